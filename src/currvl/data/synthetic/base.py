"""Shared machinery of the synthetic worlds: the `World` description, per-sample seeding and sizes.

Every synthetic sample is a pure function of (world, split, index, seed): it draws from its own
`random.Random` seeded by that tuple, so changing how many samples are asked for never changes an
existing one, and the train and test splits use disjoint seed streams.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SPLITS: tuple[str, ...] = ("train", "val", "test", "test_ood")
"""``test_ood``: a held-out split that worlds may draw out of distribution (another count range,
layout or style); worlds without such a shift draw it like ``test``, from its own seed stream."""

# Sides are multiples of 28 so a Qwen2.5-VL processor (14 px patches merged 2x2) never has to resize.
SIZE_MULTIPLE = 28

ImageSize = int | tuple[int, int]
"""An int side (square images) or an inclusive ``(min, max)`` range of sides drawn per sample."""

BuildFn = Callable[[random.Random, str, str, str, tuple[int, int]], dict[str, Any]]
"""(rng, split, category, class, (width, height)) -> schema sample without an id."""


@dataclass(frozen=True)
class World:
    """A family of synthetic tasks: which categories exist, which classes each cycles through.

    ``categories`` maps a category to the classes it cycles through (the balancing unit);
    ``vocabulary`` maps a category to its closed answer set, or None where answers are open
    (boxes), so evaluation and tests can check answers without generating data.
    """

    name: str
    description: str
    categories: Mapping[str, tuple[str, ...]]
    tasks: Mapping[str, str]
    vocabulary: Mapping[str, tuple[str, ...] | None]
    build: BuildFn = field(repr=False)
    # words an answer names that must come from the image (the premise checks' prefix cut stops before
    # the first); empty: the closed answer sets of `vocabulary`
    concept_words: tuple[str, ...] = ()

    def class_for(self, index: int) -> tuple[str, str]:
        """Round-robin over categories, then over classes within the category: small n covers all."""
        names = list(self.categories)
        category = names[index % len(names)]
        classes = self.categories[category]
        return category, classes[(index // len(names)) % len(classes)]


def sample_rng(world: str, split: str, index: int, seed: int) -> random.Random:
    """The private generator of one sample; str seeds are hashed with SHA-512, stable across runs."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return random.Random(f"currvl/{world}/{split}/{seed}/{index}")


def pick_size(rng: random.Random, image_size: ImageSize) -> tuple[int, int]:
    """Resolve ``image_size`` for one sample: a fixed side, or a random multiple of 28 in a range."""
    if isinstance(image_size, int):
        if image_size < SIZE_MULTIPLE:
            raise ValueError(f"image_size must be at least {SIZE_MULTIPLE}, got {image_size}")
        return image_size, image_size
    lo, hi = image_size
    sides = list(
        range(max(SIZE_MULTIPLE, math.ceil(lo / SIZE_MULTIPLE) * SIZE_MULTIPLE), hi + 1, SIZE_MULTIPLE)
    )
    if not sides:
        raise ValueError(f"image_size range {image_size} holds no multiple of {SIZE_MULTIPLE}")
    side = rng.choice(sides)
    return side, side
