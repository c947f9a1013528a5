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
from typing import Any

import torch
from rich.progress import Progress

from currvl.data.prompts import prompt_messages
from currvl.evaluation.evaluate import open_image


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


def _completion_logits(model, enc, n_tokens: list[int]) -> list[torch.Tensor]:
    """Logits predicting each of the last n completion tokens of each (left-padded) row."""
    # the logit at position t predicts token t + 1: completion tokens sit at the end of each row
    logits = model(**enc).logits
    length = logits.shape[1]
    return [logits[row, length - n - 1 : length - 1] for row, n in enumerate(n_tokens)]


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
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"
    for m in (base_model, tuned_model):
        m.eval()
    base_dev = next(base_model.parameters()).device
    tuned_dev = next(tuned_model.parameters()).device
    per_seq: list[list[float]] = []
    with Progress(transient=True, disable=not show_progress) as progress:
        task = progress.add_task("KL(base || tuned)", total=len(samples))
        for start in range(0, len(samples), batch_size):
            batch = list(samples[start : start + batch_size])
            comps = list(completions[start : start + batch_size])
            n_tokens = [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in comps]
            texts = [
                processor.apply_chat_template(prompt_messages(s), add_generation_prompt=True, tokenize=False)
                + c
                for s, c in zip(batch, comps, strict=True)
            ]
            images = [im for im in (open_image(s.get("image")) for s in batch) if im is not None]
            enc = processor(text=texts, images=images or None, return_tensors="pt", padding=True)
            base_logits = _completion_logits(base_model, enc.to(base_dev), n_tokens)
            tuned_logits = _completion_logits(tuned_model, enc.to(tuned_dev), n_tokens)
            for b, t in zip(base_logits, tuned_logits, strict=True):
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
