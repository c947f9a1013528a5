"""Every form a data source takes, read into validated schema samples: the one way in for all callers.

A source is one of:

- a mapping ``{"synthetic": WORLD, "n": N, "seed": S, "image_size": ...}`` (arguments of `make_samples`);
- ``"synthetic:WORLD[:N[:SEED]]"`` (N defaults to `DEFAULT_SYNTHETIC_N`, SEED to 0);
- a ``.jsonl`` file, or a folder holding ``SPLIT.jsonl`` (as `write_synthetic` and `write_jsonl` make);
- anything else: a Hugging Face Hub dataset name or a local dataset folder;
- a list of any of these: their samples one after the other (a domain set plus general "replay" data).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .io import load_hf_dataset, read_jsonl
from .synthetic import get_world, make_samples

SYNTHETIC_PREFIX = "synthetic:"
DEFAULT_SYNTHETIC_N = 500
"""Items of ``synthetic:WORLD`` without a count: the size of the bench's domain probe."""


def parse_synthetic(spec: str, default_n: int = DEFAULT_SYNTHETIC_N) -> tuple[str, int, int]:
    """(world, n, seed) of ``synthetic:WORLD[:N[:SEED]]`` (N missing: `default_n`); a one-line ValueError
    for anything else."""
    parts = spec[len(SYNTHETIC_PREFIX) :].split(":")
    if not parts[0] or len(parts) > 3 or not all(p.strip().isdigit() for p in parts[1:]):
        raise ValueError(f"synthetic spec must look like 'synthetic:WORLD[:N[:SEED]]', got {spec!r}")
    n = int(parts[1]) if len(parts) > 1 else default_n
    return parts[0], n, int(parts[2]) if len(parts) > 2 else 0


def load_source(
    spec: Any,
    *,
    split: str = "train",
    image_root: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    on_error: str = "fail",
    synthetic_n: int = DEFAULT_SYNTHETIC_N,
) -> list[dict[str, Any]]:
    """The samples of ``split`` of a source (see the module docstring), validated up front: a bad row
    fails here naming its file, line and field, before any model is loaded. ``column_map`` applies to
    HF datasets only; ``synthetic_n`` is the count of a ``synthetic:WORLD`` spec that names none."""
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError("data source: an empty list")
        options = {"split": split, "image_root": image_root, "column_map": column_map, "on_error": on_error}
        return [s for part in spec for s in load_source(part, synthetic_n=synthetic_n, **options)]
    if isinstance(spec, Mapping):
        if "synthetic" not in spec:
            raise ValueError(f"data source {dict(spec)!r}: a mapping needs a 'synthetic' world name")
        opts = {k: v for k, v in spec.items() if k != "synthetic"}
        opts.setdefault("split", split)
        return make_samples(spec["synthetic"], **opts)
    text = os.fspath(spec)
    if text.startswith(SYNTHETIC_PREFIX):
        world, n, seed = parse_synthetic(text, synthetic_n)
        return make_samples(world, split, n, seed=seed)
    split_file = Path(text) / f"{split}.jsonl"
    if split_file.is_file():
        return read_jsonl(split_file, image_root, on_error=on_error)
    if text.lower().endswith(".jsonl"):
        if not Path(text).is_file():
            raise FileNotFoundError(f"no such JSONL file: {text}")
        return read_jsonl(text, image_root, on_error=on_error)
    return load_hf_dataset(text, split=split, column_map=column_map, image_root=image_root, on_error=on_error)


def source_concepts(spec: Any) -> list[str]:
    """The words that name a source's domain concepts: a synthetic world's `concept_words` (else its
    closed answer sets), for every synthetic part of a list; none for files and datasets (name them)."""
    if isinstance(spec, (list, tuple)):
        return list(dict.fromkeys(w for part in spec for w in source_concepts(part)))
    if isinstance(spec, Mapping) and "synthetic" in spec:
        world = get_world(spec["synthetic"])
    elif isinstance(spec, str) and spec.startswith(SYNTHETIC_PREFIX):
        world = get_world(parse_synthetic(spec)[0])
    else:
        return []
    return list(world.concept_words) or [w for v in world.vocabulary.values() for w in (v or ())]
