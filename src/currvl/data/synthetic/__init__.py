"""Procedurally drawn datasets: the ``general`` suite (skills to keep) and the ``scan`` domain (to learn).

Sample ``i`` of a split is a pure function of (world, split, i, seed), so the test split is fixed no
matter how many training samples are made, and train/test never share a seed stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import SIZE_MULTIPLE, SPLITS, ImageSize, World, pick_size, sample_rng
from .count_sentences import COUNT_SENTENCES
from .domain import BOX_FINDINGS, FINDINGS, SCAN, SCAN_REPORT, render_scan
from .edge_objects import EDGE_OBJECTS
from .general import COLORS, COUNTS, GENERAL, OPERATIONS, POSITIONS, SHAPES
from .object_names import OBJECT_NAMES
from .picture_counts import PICTURE_COUNTS
from .place_sentences import PLACE_SENTENCES
from .scan_qa import SCAN_QA
from .sheet import contact_sheet
from .signs import SIGNS_WORLD
from .unseen_forms import UNSEEN_FORMS

WORLDS: dict[str, World] = {"general": GENERAL, "scan": SCAN}
# Opt-in worlds: reachable by name (get_world, make_samples, "synthetic:<world>:<n>" specs) but not in
# WORLDS, whose text trains the tiny model's tokenizer (models.tiny.default_corpus), so adding one
# leaves the tiny model, the demo and its measured numbers unchanged.
EXTRA_WORLDS: dict[str, World] = {
    "scan_report": SCAN_REPORT,
    "scan_qa": SCAN_QA,
    "unseen_forms": UNSEEN_FORMS,
    "signs": SIGNS_WORLD,
    "object_names": OBJECT_NAMES,
    "count_sentences": COUNT_SENTENCES,
    "edge_objects": EDGE_OBJECTS,
    "place_sentences": PLACE_SENTENCES,
    "picture_counts": PICTURE_COUNTS,
}


def get_world(world: str | World) -> World:
    """Look a world up by name, with an error that lists the known ones."""
    if isinstance(world, World):
        return world
    known = {**WORLDS, **EXTRA_WORLDS}
    try:
        return known[world]
    except KeyError:
        raise ValueError(f"unknown synthetic world {world!r}; expected one of {', '.join(known)}") from None


def make_sample_at(
    world: str | World, split: str, index: int, seed: int = 0, image_size: ImageSize = 112
) -> dict[str, Any]:
    """Sample ``index`` of a split on its own (what `make_samples` returns at that position)."""
    w = get_world(world)
    rng = sample_rng(w.name, split, index, seed)
    size = pick_size(rng, image_size)
    category, cls = w.class_for(index)
    sample = w.build(rng, split, category, cls, size)
    sample["id"] = f"{w.name}-{split}-{index:05d}"
    return sample


def make_samples(
    world: str, split: str, n: int, seed: int = 0, image_size: ImageSize = 112
) -> list[dict[str, Any]]:
    """The first ``n`` samples of a split as schema dicts with PIL images (None for text-only).

    Categories are interleaved round-robin and classes round-robin within each category, so even
    a handful of samples covers every category; ``image_size`` is a side or a ``(min, max)`` range
    of sides (random multiple of 28 per sample).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [make_sample_at(world, split, i, seed, image_size) for i in range(n)]


def write_synthetic(
    out_dir: str | Path,
    world: str,
    n_train: int,
    n_test: int,
    seed: int = 0,
    image_size: ImageSize = 112,
    *,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write ``train.jsonl`` / ``test.jsonl`` plus PNGs under ``out_dir/images``; return the jsonl paths."""
    from ..io import write_jsonl

    get_world(world)  # an unknown name fails before anything is written
    out = Path(out_dir)
    if not overwrite:  # check both up front so a refusal never leaves a half-written dataset
        for split in ("train", "test"):
            if (out / f"{split}.jsonl").exists():
                raise FileExistsError(
                    f"{out / f'{split}.jsonl'} already exists; pass overwrite=True (--overwrite) to replace it"
                )
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for split, n in (("train", n_train), ("test", n_test)):
        samples = make_samples(world, split, n, seed=seed, image_size=image_size)
        paths[split] = write_jsonl(
            samples, out / f"{split}.jsonl", image_dir=out / "images", overwrite=overwrite
        )
    return paths


__all__ = [
    "BOX_FINDINGS",
    "COLORS",
    "COUNTS",
    "EXTRA_WORLDS",
    "FINDINGS",
    "GENERAL",
    "OPERATIONS",
    "POSITIONS",
    "SCAN",
    "SCAN_QA",
    "SCAN_REPORT",
    "SHAPES",
    "SIGNS_WORLD",
    "SIZE_MULTIPLE",
    "SPLITS",
    "UNSEEN_FORMS",
    "WORLDS",
    "ImageSize",
    "World",
    "contact_sheet",
    "get_world",
    "make_sample_at",
    "make_samples",
    "render_scan",
    "write_synthetic",
]
