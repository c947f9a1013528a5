"""The bench's RCPA domain "signs": what a sign means, where the base sees the sign and knows the
meaning from reading, but was never asked to connect the two.

RCPA's premise is a model that can see the domain's images and has the words, yet never starts a
domain answer on its own, so plain GRPO collapses while a partial reference gets it going. Here a
sign is one of the general suite's shapes in a colour (what the base reads at ~1.0), and its meaning
is an everyday word the base read in text (`sign_facts`, plain sentences in its pretraining: "A
yellow triangle sign means warning."). It never saw a sign's picture with its meaning, nor was it
asked what a sign means. The reference rationale describes the sign and then recalls the fact ("the
sign is a yellow triangle, and a yellow triangle sign means warning"): forced up to the meaning, the
rest is recall from text; forced less, the model must also describe the sign (a skill it has, in
other words) and bridge to the fact itself, which free sampling never does.

- ``meaning``: "What does this sign mean?" -> warning / stop / parking / hospital / museum.

The ``test_ood`` split draws signs on larger images (140 px: a 5 x 5 grid) with a pale blue wall.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from PIL import Image

from ..schema import make_sample
from .base import World
from .general import grid_cells, render_scene

SIGNS: dict[str, tuple[str, str]] = {
    "warning": ("yellow", "triangle"),
    "stop": ("red", "square"),
    "parking": ("blue", "circle"),
    "hospital": ("green", "cross"),
    "museum": ("purple", "star"),
}
"""Meaning -> (colour, shape) of its sign."""
MEANINGS: tuple[str, ...] = tuple(SIGNS)
QUESTIONS: tuple[str, ...] = (
    "What does this sign mean?",
    "What is the meaning of the sign in the picture?",
    "Which message does this sign give?",
)
FACT_TEMPLATES: tuple[str, ...] = (
    "A {c} {s} sign means {m}.",
    "The sign for {m} is a {c} {s}.",
    "When you see a {c} {s} sign, it tells you {m}.",
    "On the road and in town, {m} is shown by a {c} {s}.",
)
OOD_SIZE = 140


def tokenizer_text() -> list[str]:
    """The world's text for a tokenizer corpus (questions, answers, rationales, facts), so a meaning is
    one token in an answer as "circle" is (a base built with `tokenizer_corpus: frozen+signs`)."""
    from . import make_samples

    texts = list(sign_facts())
    for split in ("train", "test"):
        for s in make_samples("signs", split, 200):
            texts += [s["question"], s["answer"], s["rationale"]]
    return texts


def sign_facts() -> list[str]:
    """What the base reads about signs (text only, in its pretraining): every template, every sign."""
    return [t.format(c=c, s=s, m=m) for m, (c, s) in SIGNS.items() for t in FACT_TEMPLATES]


def build_signs(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """One sign at a random cell; the answer is its meaning."""
    if category != "meaning":
        raise ValueError(f"unknown signs category {category!r}")
    colour, shape = SIGNS[cls]
    if split == "test_ood":
        size = (OOD_SIZE, OOD_SIZE)
    image = render_scene(rng, size, [(*rng.choice(grid_cells(size)), shape, colour)])
    if split == "test_ood":  # a pale blue wall instead of the general suite's near-white
        rgb = np.asarray(image).copy()
        rgb[rgb.min(-1) > 225] = (205, 222, 240)
        image = Image.fromarray(rgb)
    return make_sample(
        rng.choice(QUESTIONS),
        cls,
        "text",
        image=image,
        category=category,
        rationale=f"the sign is a {colour} {shape}, and a {colour} {shape} sign means {cls}",
    )


SIGNS_WORLD = World(
    name="signs",
    description="what a sign (a coloured general shape) means: seen and read about, never connected",
    categories={"meaning": MEANINGS},
    tasks={"meaning": "text"},
    vocabulary={"meaning": MEANINGS},
    build=build_signs,
)
