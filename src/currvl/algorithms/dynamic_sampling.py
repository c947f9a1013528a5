"""Dynamic sampling (DAPO; verl's ``filter_groups``, EasyR1's ``online_filtering``): drop groups with
nothing to learn from and refill the batch with fresh prompts.

A GRPO group whose task rewards all tie has zero advantage: it costs a rollout and teaches nothing.
The rule here keeps a group only when the mean task reward of the policy's own rollouts lies strictly
inside ``(min, max)``: with rewards in [0, 1] and the defaults, "all wrong" and "all right" groups go.
The trainer (`currvl.training.grpo`) generates replacement groups for the dropped ones, up to
``max_rounds`` extra rounds per step, and tops the batch up with dropped groups if that is not enough,
so every step trains on a batch of the configured size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from currvl.algorithms.signals import own_scored_rows


@dataclass
class DynamicSamplingConfig:
    """`dynamic_sampling:` of a recipe's `rollout:` section."""

    min: float = 0.0  # a group whose mean task reward is <= min is dropped (all wrong)
    max: float = 1.0  # ... or >= max (all right)
    max_rounds: int = 3  # extra generation rounds per step to replace dropped groups

    def __post_init__(self) -> None:
        if not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        if self.max_rounds < 0:
            raise ValueError(f"max_rounds: must be >= 0, got {self.max_rounds}")


def informative_groups(
    rewards: torch.Tensor,
    group_size: int,
    cfg: DynamicSamplingConfig,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """(groups,) bool: True where the group's mean task reward lies strictly inside (min, max).

    `rewards` is (groups * group_size,), groups contiguous. Rows in `exclude` (injected references)
    and unscorable rows (NaN) do not count; a group with no counted row is dropped.
    """
    counted = own_scored_rows(rewards, group_size, exclude)
    r = torch.where(counted, rewards.view(-1, group_size), torch.zeros_like(counted, dtype=rewards.dtype))
    n = counted.sum(dim=1)
    mean = r.sum(dim=1) / n.clamp(min=1)
    return (n > 0) & (mean > cfg.min) & (mean < cfg.max)


def rows_of_groups(groups: torch.Tensor | list[int], group_size: int) -> list[int]:
    """Row indices of the given group indices (groups contiguous, `group_size` rows each)."""
    return [g * group_size + k for g in [int(x) for x in groups] for k in range(group_size)]
