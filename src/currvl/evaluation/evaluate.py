"""Greedy evaluation: batched generation, answers scored by the same rules as the rewards, per category."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from rich.progress import Progress

from currvl.data.prompts import prompt_messages
from currvl.rewards import extract_answer, score_answer


def open_image(image: Any) -> Image.Image | None:
    if image is None:
        return None
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    with Image.open(image) as im:
        return im.convert("RGB")


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
) -> list[str]:
    """Completions for `samples`, in order: greedy, or `num_samples` sampled ones per sample (consecutive)
    when `temperature` is set. Left padding keeps mixed image sizes in one batch valid."""
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"
    model.eval()
    device = next(model.parameters()).device
    outputs: list[str] = []
    with Progress(transient=True, disable=not show_progress) as progress:
        task = progress.add_task("evaluating", total=len(samples))
        for start in range(0, len(samples), batch_size):
            batch = samples[start : start + batch_size]
            texts = [
                processor.apply_chat_template(
                    prompt_messages(s, with_suffix), add_generation_prompt=True, tokenize=False
                )
                for s in batch
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
            outputs.extend(tokenizer.batch_decode(completions, skip_special_tokens=True))
            progress.advance(task, len(batch))
    return outputs


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion; stays inside [0, 1] even for tiny n or p in {0, 1}."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def score_completions(samples: list[dict[str, Any]], completions: list[str]) -> dict[str, Any]:
    """Per-category mean score (accuracy; IoU@0.5 for boxes; Jaccard for label sets) with counts and CIs."""
    per_cat: dict[str, list[float]] = defaultdict(list)
    records = []
    for s, text in zip(samples, completions, strict=True):
        score = score_answer(extract_answer(text), s["answer"], s["task"])
        per_cat[s.get("category") or s["task"]].append(score)
        records.append(
            {
                "id": s.get("id"),
                "category": s.get("category"),
                "answer": s["answer"],
                "completion": text,
                "score": score,
            }
        )
    tasks = {}
    for cat, scores in sorted(per_cat.items()):
        n = len(scores)
        mean = sum(scores) / n
        lo, hi = wilson_interval(sum(scores), n)
        tasks[cat] = {"score": mean, "n": n, "ci95": [lo, hi]}
    all_scores = [r["score"] for r in records]
    n = len(all_scores)
    overall = sum(all_scores) / n if n else 0.0
    return {
        "score": overall,
        "n": n,
        "ci95": list(wilson_interval(sum(all_scores), n)),
        # Macro average: every category counts the same, whatever its sample count.
        "macro_score": sum(t["score"] for t in tasks.values()) / len(tasks) if tasks else 0.0,
        "tasks": tasks,
        "records": records,
    }


def evaluate(model, processor, samples: list[dict[str, Any]], **generate_kwargs: Any) -> dict[str, Any]:
    completions = generate(model, processor, samples, **generate_kwargs)
    return score_completions(samples, completions)


def write_report(result: dict[str, Any], path: str | Path, keep_records: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = result if keep_records else {k: v for k, v in result.items() if k != "records"}
    path.write_text(json.dumps(data, indent=2))
    return path
