"""Forward KL from the base to the tuned model on general-probe prompts: a forgetting predictor.

"RL's Razor" (Shenfeld et al., arXiv 2509.04259) finds that how much a fine-tuned model forgets is
predicted by KL(pi_base || pi_tuned) measured where the base model puts its mass. We measure it
on the general probe: the base model's own greedy completions (already produced by its evaluation)
are teacher-forced through both models, and at every completion token the full-vocabulary
KL(p_base || p_tuned) is taken. Reported per token (mean over all completion tokens) and per
sequence (sum over a completion, averaged over completions).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from rich.progress import Progress

from currvl.models.loading import free_memory, load_model
from currvl.models.teacher_forcing import teacher_forced_logits


def token_kl(base_logits: torch.Tensor, tuned_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(base) || softmax(tuned)) over the last (vocabulary) axis, one value per position."""
    p = torch.log_softmax(base_logits.float(), dim=-1)
    q = torch.log_softmax(tuned_logits.float(), dim=-1)
    return (p.exp() * (p - q)).sum(dim=-1)


def kl_summary(per_sequence_kls: Sequence[Sequence[float]]) -> dict[str, Any]:
    """Per-token and per-sequence means of per-position KLs (one list per completion)."""
    seqs = [list(s) for s in per_sequence_kls if len(s)]
    tokens = sum(len(s) for s in seqs)
    return {
        "kl_per_token": sum(sum(s) for s in seqs) / tokens if tokens else None,
        "kl_per_sequence": sum(sum(s) for s in seqs) / len(seqs) if seqs else None,
        "sequences": len(seqs),
        "tokens": tokens,
    }


@torch.no_grad()
def forward_kl(
    base_model,
    tuned_model,
    processor,
    samples: Sequence[dict[str, Any]],
    completions: Sequence[str],
    *,
    batch_size: int = 16,
    show_progress: bool = True,
) -> dict[str, Any]:
    """KL(base || tuned) along `completions` (the base model's, one per sample); see the module doc."""
    if len(samples) != len(completions):
        raise ValueError(f"{len(samples)} samples but {len(completions)} completions")
    for m in (base_model, tuned_model):
        m.eval()
    per_seq: list[list[float]] = []
    with Progress(transient=True, disable=not show_progress) as progress:
        task = progress.add_task("KL(base || tuned)", total=len(samples))
        for start in range(0, len(samples), batch_size):
            batch = list(samples[start : start + batch_size])
            comps = list(completions[start : start + batch_size])
            base = teacher_forced_logits(base_model, processor, batch, comps)
            tuned = teacher_forced_logits(tuned_model, processor, batch, comps)
            for (b, _), (t, _) in zip(base, tuned, strict=True):
                per_seq.append(token_kl(b, t.to(b.device)).tolist())
            progress.advance(task, len(batch))
    return kl_summary(per_seq)


def general_kl(
    base_model, tuned_model, processor, samples: Sequence[dict[str, Any]], base_result: dict[str, Any], **kw
) -> dict[str, Any]:
    """`forward_kl` on the general probe along the base's recorded completions (from its evaluation)."""
    by_id = {r.get("id"): r["completion"] for r in base_result.get("records", [])}
    if not all(s.get("id") in by_id for s in samples):
        raise ValueError("the base evaluation has no recorded completion for some probe items")
    return forward_kl(
        base_model, tuned_model, processor, samples, [by_id[s.get("id")] for s in samples], **kw
    )


def general_kl_of(
    base: str | Path,
    tuned: str | Path,
    samples: Sequence[dict[str, Any]],
    base_result: dict[str, Any],
    *,
    batch_size: int = 16,
    **load_kwargs: Any,
) -> dict[str, Any]:
    """`general_kl` of two model folders (or hub ids): loads both, measures, frees them."""
    base_model, processor = load_model(str(base), **load_kwargs)
    tuned_model, _ = load_model(str(tuned), **load_kwargs)
    try:
        return general_kl(base_model, tuned_model, processor, samples, base_result, batch_size=batch_size)
    finally:
        del base_model, tuned_model, processor
        free_memory()
