"""Load any Hugging Face image-text-to-text checkpoint (Qwen2.5-VL first) with its processor."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

SHIPPED_BASE = Path(__file__).parent / "base"
"""The bench's base model, shipped in the package (rebuilt by `currvl model pretrain`; gate.md beside it)."""
SHIPPED_BASE_NAME = "currvl-base"
SHIPPED_BASES: dict[str, Path] = {
    SHIPPED_BASE_NAME: SHIPPED_BASE,
    # the same recipe plus the compositional describe stage (README, "A base whose language
    # generalises", v5): RCPA's bench base, whose premise holds on `count_sentences` where pt18's fails
    "currvl-base-compositional": Path(__file__).parent / "base_compositional",
}
"""Every base shipped in the package, by the name configs and commands use."""


def resolve_model_path(name_or_path: str | Path) -> str:
    """`currvl-base` (or another `SHIPPED_BASES` name) names a shipped base; a folder or a hub id passes
    through. A name that can only be a folder (absolute, relative with ./ or ~, with two or more
    slashes, which no hub id has, or `dir/name` where `dir` is a folder here) and is missing fails here,
    instead of as a hub lookup of a malformed repo id or, offline, a connection error."""
    text = str(name_or_path)
    if text in SHIPPED_BASES:
        return str(SHIPPED_BASES[text])
    looks_local = (
        text.startswith((".", "/", "~"))
        or text.count("/") >= 2
        or isinstance(name_or_path, Path)
        or (text.count("/") == 1 and Path(text.split("/")[0]).is_dir())  # runs/x where ./runs is a folder
    )
    if looks_local and not Path(text).expanduser().exists():
        raise FileNotFoundError(f"no model folder at {text} (did its training finish? is the path right?)")
    return text


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}
DTYPE_NAMES: tuple[str, ...] = tuple(_DTYPES)
"""What a recipe's `model.dtype` may say ("auto": bfloat16 on the GPU, float32 on the CPU)."""


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | str | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


def inference_placement() -> dict[str, Any]:
    """`load_model` keywords for sampling and evaluation: bfloat16 on the GPU when there is one, else
    float32 on the CPU."""
    on_gpu = torch.cuda.is_available()
    return {"dtype": "bfloat16" if on_gpu else "float32", "device": "cuda" if on_gpu else None}


def load_processor(name_or_path: str | Path, **processor_kwargs: Any):
    """The model's processor with left padding, which batched generation and Qwen-VL rope indices need."""
    processor = AutoProcessor.from_pretrained(resolve_model_path(name_or_path), **processor_kwargs)
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return processor


def load_model(
    name_or_path: str | Path,
    *,
    dtype: str | torch.dtype | None = "float32",
    device: str | torch.device | None = None,
    attn_implementation: str | None = None,
    **processor_kwargs: Any,
):
    """Return (model, processor) for a local folder, a hub id or `currvl-base`. The same call serves the
    tiny and the 7B model.

    `processor_kwargs` (e.g. `min_pixels`, `max_pixels`) go to `AutoProcessor.from_pretrained`.
    """
    kwargs: dict[str, Any] = {"dtype": resolve_dtype(dtype)}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model = AutoModelForImageTextToText.from_pretrained(resolve_model_path(name_or_path), **kwargs)
    if device is not None:
        model.to(device)
    return model, load_processor(name_or_path, **processor_kwargs)


def free_memory() -> None:
    """Hand freed model memory back (Python objects first, then the CUDA cache) between models."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
