"""Teacher-forced scoring: the model's logits along a given completion, and the reference's NLL.

What training (RCPA's difficulty order, the reference-likelihood probe) and evaluation (KL between
two models along the base's completions) both measure, so it lives below both.
"""

from __future__ import annotations

from typing import Any

import torch

from currvl.data.io import open_image
from currvl.data.prompts import prompt_messages, target_text


@torch.no_grad()
def teacher_forced_logits(
    model, processor, samples: list[dict[str, Any]], completions: list[str]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One batch through `model` with each completion appended to its prompt: per row, the logits
    that predict the completion's tokens (n, vocab) and those tokens (n,). Left padding keeps every
    completion at the end of its row."""
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"
    texts = [
        processor.apply_chat_template(prompt_messages(s), add_generation_prompt=True, tokenize=False) + c
        for s, c in zip(samples, completions, strict=True)
    ]
    images = [open_image(s["image"]) for s in samples if s.get("image") is not None]
    kwargs = {"images": images} if images else {}
    enc = processor(text=texts, padding=True, return_tensors="pt", **kwargs).to(
        next(model.parameters()).device
    )
    lengths = [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in completions]
    logits = model(**enc).logits
    end = logits.shape[1]
    # the logit at position t predicts token t + 1
    return [
        (logits[row, end - n - 1 : end - 1], enc["input_ids"][row, end - n :])
        for row, n in enumerate(lengths)
    ]


def reference_token_nll(
    model, processor, samples: list[dict[str, Any]], batch_size: int = 8
) -> list[torch.Tensor]:
    """Per sample, the NLL (nats) of each token of its reference completion, teacher-forced."""
    was_training = model.training
    model.eval()
    out: list[torch.Tensor] = []
    for start in range(0, len(samples), batch_size):
        batch = samples[start : start + batch_size]
        for logits, ids in teacher_forced_logits(model, processor, batch, [target_text(s) for s in batch]):
            out.append(-torch.log_softmax(logits.float(), dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1))
    model.train(was_training)
    return out


def reference_nll(model, processor, samples: list[dict[str, Any]], batch_size: int = 8) -> list[float]:
    """Per-sample mean NLL (nats per token) of the reference completion under `model`."""
    return [nll.mean().item() for nll in reference_token_nll(model, processor, samples, batch_size)]
