"""Signal metrics of an RL step: is there anything for the policy gradient to learn from?

GRPO learns only from groups whose rewards differ. Measured honestly, that means:

- on the *task* reward (accuracy, similarity), not the format reward: a group where every rollout
  is wrong but some are well formatted "has variance" only in a way that teaches formatting;
- over the policy's *own* rollouts: a reference completion injected into a group (RCPA's
  reference member) always differs from wrong rollouts, so counting it hides a collapse.

The functions here are plain tensor maths; the trainer decides which columns and rows they see.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

FORMAT_MARKERS = ("format",)
ZERO_VARIANCE_TASK_KEY = "signal/zero_variance_task"  # the logged name of `zero_variance_fraction`


def task_reward_columns(names: Sequence[str]) -> list[int]:
    """Indices of the reward functions that score the task (all but format rewards)."""
    return [i for i, n in enumerate(names) if not any(m in n.lower() for m in FORMAT_MARKERS)]


def task_reward(
    rewards_per_func: torch.Tensor, names: Sequence[str], weights: torch.Tensor
) -> torch.Tensor | None:
    """Per-rollout weighted sum of the task reward columns; NaN where none of them could score."""
    cols = task_reward_columns(names)
    if not cols:
        return None
    r = rewards_per_func[:, cols]
    total = (r * weights[cols].to(r.device).unsqueeze(0)).nansum(dim=1)
    total[torch.isnan(r).all(dim=1)] = float("nan")
    return total


def own_scored_rows(
    rewards: torch.Tensor, group_size: int, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """(groups, group_size) bool: the rows that count as the policy's own scored rollouts.

    `rewards` is (groups * group_size,), groups contiguous as GRPO lays them out. Unscorable rows
    (NaN) and rows in `exclude` (injected references) do not count.
    """
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    keep = ~torch.isnan(rewards)
    if exclude is not None:
        keep &= ~exclude.to(torch.bool).to(rewards.device)
    return keep.view(-1, group_size)


def zero_variance_fraction(
    rewards: torch.Tensor, group_size: int, exclude: torch.Tensor | None = None, atol: float = 1e-6
) -> float | None:
    """Fraction of groups whose counted rollouts all score the same (nothing to learn from).

    `rewards` is (groups * group_size,), groups contiguous as GRPO lays them out. Rows in `exclude`
    (injected references) and unscorable rows (NaN) are not counted; a group with fewer than two
    counted rollouts has no variance to speak of and is left out. None when no group is left.
    """
    keep = own_scored_rows(rewards, group_size, exclude)
    zero, counted = 0, 0
    for r, k in zip(rewards.view(-1, group_size), keep, strict=True):
        values = r[k]
        if values.numel() < 2:
            continue
        counted += 1
        zero += int((values.max() - values.min()).abs().item() <= atol)
    return zero / counted if counted else None


def answer_char_span(text: str) -> tuple[int, int] | None:
    """Character span of the answer's content: inside the last <answer> ... </answer> (or to the end
    of an unclosed one); None without an answer tag."""
    start = text.rfind("<answer>")
    if start < 0:
        return None
    start += len("<answer>")
    end = text.find("</answer>", start)
    return (start, end if end >= 0 else len(text))


def answer_token_mask(token_texts: Sequence[Sequence[str]], width: int) -> torch.Tensor:
    """(rows, width) mask of the tokens that overlap each completion's answer content.

    `token_texts[i]` are the decoded pieces of completion i's tokens, in order (their concatenation
    is the completion text).
    """
    mask = torch.zeros(len(token_texts), width)
    for row, pieces in enumerate(token_texts):
        span = answer_char_span("".join(pieces))
        if span is None:
            continue
        pos = 0
        for j, piece in enumerate(pieces[:width]):
            end = pos + len(piece)
            if end > span[0] and pos < span[1] and piece.strip():
                mask[row, j] = 1.0
            pos = end
    return mask
