"""Batched completions from a VLM for schema samples: what evaluation, the gate and self-improvement sample."""

from __future__ import annotations

from typing import Any

import torch
from rich.progress import Progress

from currvl.data.io import open_image
from currvl.data.prompts import prompt_messages


@torch.no_grad()
def generate(
    model,
    processor,
    samples: list[dict[str, Any]],
    *,
    batch_size: int = 16,
    max_new_tokens: int = 64,
    with_suffix: bool = True,
    show_progress: bool = True,
    num_samples: int = 1,
    temperature: float | None = None,
    description: str = "evaluating",
    prefixes: list[str] | None = None,
) -> list[str]:
    """Completions for `samples`, in order: greedy, or `num_samples` sampled ones per sample (consecutive)
    when `temperature` is set. Left padding keeps mixed image sizes in one batch valid.

    `prefixes` (one per sample) are forced: each is written after the assistant turn's start, the
    model continues it, and the returned completion is the prefix followed by the continuation (what
    a reward scores when RCPA forces part of the reference)."""
    if prefixes is not None and len(prefixes) != len(samples):
        raise ValueError(f"{len(prefixes)} prefixes for {len(samples)} samples")
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"
    model.eval()
    device = next(model.parameters()).device
    outputs: list[str] = []
    with Progress(transient=True, disable=not show_progress) as progress:
        task = progress.add_task(description, total=len(samples))
        for start in range(0, len(samples), batch_size):
            batch = samples[start : start + batch_size]
            forced = prefixes[start : start + batch_size] if prefixes is not None else [""] * len(batch)
            texts = [
                processor.apply_chat_template(
                    prompt_messages(s, with_suffix), add_generation_prompt=True, tokenize=False
                )
                + f
                for s, f in zip(batch, forced, strict=True)
            ]
            images = [im for im in (open_image(s.get("image")) for s in batch) if im is not None]
            inputs = processor(text=texts, images=images or None, return_tensors="pt", padding=True).to(
                device
            )
            sampling = {"do_sample": False}
            if temperature is not None:
                sampling = {
                    "do_sample": True,
                    "temperature": temperature,
                    "num_return_sequences": num_samples,
                }
            out = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
            completions = out[:, inputs["input_ids"].shape[1] :]
            decoded = tokenizer.batch_decode(completions, skip_special_tokens=True)
            per_row = num_samples if temperature is not None else 1
            outputs.extend(forced[i // per_row] + text for i, text in enumerate(decoded))
            progress.advance(task, len(batch))
    return outputs
