"""One vision encoding per distinct image in a batch: a GRPO group repeats its prompt's image G times.

TRL repeats ``pixel_values`` once per completion, so the vision tower encodes the same image G times in
generation, in the policy forward and in the reference forward. `share_image_encoding` wraps the
model's ``get_image_features`` so that each call encodes every distinct image once and hands the
result to all its copies. The copies index one tensor, so in the backward pass the vision tower's
gradient is the sum over the copies: what G separate encodings would give, up to float rounding.

Only the Qwen2-VL family is wrapped (its ``pixel_values`` are the images' patches stacked in order,
``image_grid_thw`` rows give each image's patch count); other models are left as they are.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

log = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")
_ORIGINAL = "_currvl_unshared_get_image_features"


def distinct_images(pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> tuple[list[int], list[int]]:
    """(first, inverse): the index of each distinct image's first copy, and for every image the
    position of its distinct image in `first`. Images are equal when their grids and patches are."""
    sizes = grid_thw.prod(-1).tolist()
    chunks = torch.split(pixel_values, sizes)
    # a cheap fingerprint per image (one host sync for the batch), confirmed with torch.equal
    rows = pixel_values.detach().float().sum(-1)
    ramp = torch.arange(1, rows.numel() + 1, device=rows.device, dtype=rows.dtype)
    fingerprints = torch.stack(
        [torch.stack([r.sum(), (r * ramp[: r.numel()]).sum()]) for r in torch.split(rows, sizes)]
    ).tolist()
    grids = grid_thw.tolist()
    first: list[int] = []
    inverse: list[int] = []
    seen: dict[tuple, list[int]] = {}  # fingerprint -> positions in `first`
    for i, chunk in enumerate(chunks):
        key = (*grids[i], *fingerprints[i])
        match = next((u for u in seen.get(key, []) if torch.equal(chunks[first[u]], chunk)), None)
        if match is None:
            match = len(first)
            first.append(i)
            seen.setdefault(key, []).append(match)
        inverse.append(match)
    return first, inverse


def _inner_model(model: Any) -> Any:
    """The module that owns ``get_image_features`` and ``visual`` (Qwen2_5_VLModel), through PEFT wrappers."""
    seen = model
    for _ in range(6):
        if hasattr(seen, "visual") and hasattr(seen, "get_image_features"):
            return seen
        for attr in ("model", "base_model"):
            child = getattr(seen, attr, None)
            if child is not None and child is not seen:
                seen = child
                break
        else:
            return None
    return None


def share_image_encoding(model: Any) -> bool:
    """Make `model` encode each distinct image of a call once; True when it was (or already is) wrapped."""
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES:
        log.info("vision sharing: %s is not a Qwen2-VL model; left as it is", type(model).__name__)
        return False
    inner = _inner_model(model)
    if inner is None:
        return False
    if hasattr(inner, _ORIGINAL):
        return True
    original = inner.get_image_features
    setattr(inner, _ORIGINAL, original)

    def get_image_features(pixel_values, image_grid_thw=None, **kwargs):
        if image_grid_thw is None or len(image_grid_thw) < 2:
            return original(pixel_values, image_grid_thw, **kwargs)
        first, inverse = distinct_images(pixel_values, image_grid_thw)
        if len(first) == len(inverse):
            return original(pixel_values, image_grid_thw, **kwargs)
        chunks = torch.split(pixel_values, image_grid_thw.prod(-1).tolist())
        unique_pixels = torch.cat([chunks[i] for i in first])
        out = original(unique_pixels, image_grid_thw[first], **kwargs)
        # pooler_output: one (tokens_i, hidden) tensor per distinct image, handed to each copy; the
        # other fields (unmerged patch states) stay per distinct image
        per_image = out.pooler_output
        out.pooler_output = tuple(per_image[u] for u in inverse)
        return out

    inner.get_image_features = get_image_features
    return True


def unshare_image_encoding(model: Any) -> None:
    """Undo `share_image_encoding` (the model encodes every copy again)."""
    inner = _inner_model(model)
    if inner is not None and hasattr(inner, _ORIGINAL):
        del inner.get_image_features  # the instance attribute; the class method shows through again
        delattr(inner, _ORIGINAL)
