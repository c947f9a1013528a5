"""The bench's Curr-ReFT domain "object_names": name a shape by its colour and kind ("red circle").

Curr-ReFT's premise is an open task whose reward is sparse (few groups of rollouts have any signal)
while its yes/no and multiple-choice forms are answered from real skill, so their dense rewards
teach something that carries over to the open form. Here the skill is the general suite's own (the
base reads colour and shape at ~1.0 and judges each yes/no at ~1.0), but the open answer is a form
it was never drilled on: two words, colour then kind, where it learnt to give one. A yes/no
candidate ("Is the answer blue star?") and options ("A. red circle B. blue star ...") can be checked
against what it sees; the open answer must be written.

- ``colour_shape``: "Name the object by its colour and its shape." -> "red circle".

Splits: ``train``, ``val`` and ``test`` draw 24 of the 30 colour-shape pairs; ``test_ood`` draws the
other 6 (one shape per colour, `OOD_PAIRS`), pairs a policy trained on the domain never named, though
the base saw every colour on every shape.
"""

from __future__ import annotations

import random
from typing import Any

from ..schema import make_sample
from .base import World
from .general import COLORS, SHAPE_RATIONALES, SHAPES, grid_cells, render_scene

PAIRS: tuple[str, ...] = tuple(f"{c} {s}" for c in COLORS for s in SHAPES)
OOD_PAIRS: tuple[str, ...] = tuple(f"{c} {SHAPES[i % len(SHAPES)]}" for i, c in enumerate(COLORS))
"""One pair per colour, shapes in turn: held out of train, val and test."""
IN_DOMAIN_PAIRS: tuple[str, ...] = tuple(p for p in PAIRS if p not in OOD_PAIRS)


def split_pairs(split: str) -> tuple[str, ...]:
    """The pairs a split may name: `OOD_PAIRS` on ``test_ood``, else the in-domain ones (the rule the
    worlds that name a drawn shape by its pair share)."""
    return OOD_PAIRS if split == "test_ood" else IN_DOMAIN_PAIRS


QUESTIONS: tuple[str, ...] = (
    "Name the object by its colour and its shape.",
    "What coloured shape is this? Give its colour and its shape.",
    "Which object do you see? Say its colour and its kind of shape.",
)


def rationale(colour: str, shape: str) -> str:
    """The reference's `<think>`: the colour, then the shape's own rationale of the general suite."""
    reason = SHAPE_RATIONALES[shape].removeprefix("the shape ").removesuffix(f"a {shape}")
    return f"the shape is {colour} and it {reason}a {colour} {shape}"


def build_object_names(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """One shape at a random cell; the answer is "<colour> <shape>" (an OOD pair on ``test_ood``)."""
    if category != "colour_shape":
        raise ValueError(f"unknown object_names category {category!r}")
    if split == "test_ood":
        cls = OOD_PAIRS[IN_DOMAIN_PAIRS.index(cls) % len(OOD_PAIRS)]
    colour, shape = cls.split()
    image = render_scene(rng, size, [(*rng.choice(grid_cells(size)), shape, colour)])
    return make_sample(
        rng.choice(QUESTIONS), cls, "text", image=image, category=category, rationale=rationale(colour, shape)
    )


OBJECT_NAMES = World(
    name="object_names",
    description="name a shape by colour and kind: known skills, an open form never drilled",
    categories={"colour_shape": IN_DOMAIN_PAIRS},
    tasks={"colour_shape": "text"},
    vocabulary={"colour_shape": PAIRS},
    build=build_object_names,
    concept_words=(*COLORS, *SHAPES),
)
