"""From a recipe's data sources to the `datasets.Dataset` layouts TRL's trainers expect."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from datasets import Dataset, Image, Sequence

from currvl.data.prompts import completion_messages, prompt_messages, target_text

REWARD_COLUMNS = ("answer", "task", "category", "options")

REFERENCE_COLUMN = "reference"
"""The GRPO dataset column holding the reference completion text (RCPA forces its first tokens)."""


def _image_value(image: Any) -> Any:
    return str(image) if isinstance(image, Path) else image


def _encoded(image: Any) -> Any:
    """An image as `datasets.Image` stores it ({"bytes", "path"}): the one form that mixes, in one
    column, pictures drawn in memory (synthetic worlds) with files on disk (a user's JSONL)."""
    if image is None or isinstance(image, dict):
        return image
    if isinstance(image, (str, Path)):
        return {"bytes": None, "path": str(image)}
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")  # lossless: the same pixels come back
    return {"bytes": buffer.getvalue(), "path": None}


def _mixes_paths_and_pictures(images: list[Any]) -> bool:
    kinds = {isinstance(im, (str, Path)) for im in images if im is not None}
    return len(kinds) > 1


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
    if has_images and _mixes_paths_and_pictures([r["image"] for r in rows]):
        for r in rows:
            r["image"] = _encoded(r["image"])
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
    if _mixes_paths_and_pictures([im for r in rows for im in r["images"]]):
        for r in rows:
            r["images"] = [_encoded(im) for im in r["images"]]
    ds = Dataset.from_list(rows)
    return ds.cast_column("images", Sequence(Image()))
