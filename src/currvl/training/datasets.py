"""From a recipe's data sources to the `datasets.Dataset` layouts TRL's trainers expect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Dataset, Image, Sequence

from currvl.data.prompts import completion_messages, prompt_messages, target_text

REWARD_COLUMNS = ("answer", "task", "category", "options")

REFERENCE_COLUMN = "reference"
"""The GRPO dataset column holding the reference completion text (RCPA forces its first tokens)."""


def _image_value(image: Any) -> Any:
    return str(image) if isinstance(image, Path) else image


def to_grpo_dataset(
    samples: list[dict[str, Any]], with_suffix: bool = True, with_reference: bool = False
) -> Dataset:
    """Conversational prompt + `image` column (decoded lazily) + the columns reward functions read;
    `with_reference` adds the reference completion text (RCPA forces its first tokens)."""
    rows = []
    has_images = any(s.get("image") is not None for s in samples)
    for s in samples:
        row = {"prompt": prompt_messages(s, with_suffix)}
        for col in REWARD_COLUMNS:
            row[col] = s.get(col)
        if with_reference:
            row[REFERENCE_COLUMN] = target_text(s)
        if has_images:
            row["image"] = _image_value(s.get("image"))
        rows.append(row)
    ds = Dataset.from_list(rows)
    if has_images and not isinstance(ds.features["image"], Image):
        ds = ds.cast_column("image", Image())
    return ds


def to_sft_dataset(samples: list[dict[str, Any]], with_suffix: bool = True) -> Dataset:
    """Prompt-completion conversational rows; TRL's VLM collator then masks the prompt out of the loss."""
    rows = []
    for s in samples:
        image = s.get("image")
        rows.append(
            {
                "prompt": prompt_messages(s, with_suffix),
                "completion": completion_messages(s),
                "images": [] if image is None else [_image_value(image)],
            }
        )
    ds = Dataset.from_list(rows)
    return ds.cast_column("images", Sequence(Image()))
