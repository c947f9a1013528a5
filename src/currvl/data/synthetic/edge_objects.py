"""A candidate Curr-ReFT domain "edge_objects": name the object next to one edge of a four-object scene.

Curr-ReFT's premise is an open task whose reward is sparse but not out of reach (a few groups of
rollouts carry signal) while its yes/no and choice forms are answered from real skill, so their
dense rewards teach something the open stage can use. Here every scene holds four shapes, one next
to each edge (distinct colour-shape pairs); the question names an edge and the answer names its
object in a form the compositional base writes by itself, "It is a red circle." (measured with
`benchmarks/answer_forms.py`: 0.08 of its free samples on a one-shape scene): the open answer is
within reach, but only for the right one of four objects, where the base's spatial reading is weak.
Measured on that base (README, "Before training"), the premise fails: on four-shape scenes it lists
every shape, judges the yes/no form below chance and its pooled tower does not tell the asked object;
the world stays as a hard case.

- ``edge_object``: "Which object is next to the left edge?" -> "It is a red circle." (exact match
  after the text rule's normalisation). The `<think>` names the edge only, never the object.

Splits: ``train``, ``val`` and ``test`` ask about objects of 24 of the 30 colour-shape pairs;
``test_ood`` asks about the other 6 (`object_names.OOD_PAIRS`), pairs training never names (they may
stand at the other edges of a training scene).
"""

from __future__ import annotations

import random
from typing import Any

from ..schema import make_sample
from .base import World
from .general import COLORS, POSITIONS, SHAPES, edge_cell, render_scene
from .object_names import PAIRS, split_pairs

QUESTIONS: tuple[str, ...] = (
    "Which object is next to the {side} edge?",
    "What is the object by the {side} edge? Give its colour and its shape.",
    "Name the object next to the {side} edge.",
)


def answer(pair: str) -> str:
    """The reference answer naming a colour-shape pair."""
    return f"It is a {pair}."


def build_edge_objects(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """Four shapes, one next to each edge; `cls` is the edge asked about (an OOD pair there on
    ``test_ood``)."""
    if category != "edge_object":
        raise ValueError(f"unknown edge_objects category {category!r}")
    target = rng.choice(split_pairs(split))
    others = rng.sample([p for p in PAIRS if p != target], len(POSITIONS) - 1)
    pairs = dict(zip([s for s in POSITIONS if s != cls], others, strict=True)) | {cls: target}
    objects = []
    for side in POSITIONS:
        colour, shape = pairs[side].split()
        objects.append((*edge_cell(rng, size, side), shape, colour))
    return make_sample(
        rng.choice(QUESTIONS).format(side=cls),
        answer(target),
        "text",
        image=render_scene(rng, size, objects),
        category=category,
        rationale=f"i look at the {cls} edge",
    )


EDGE_OBJECTS = World(
    name="edge_objects",
    description="name the object next to one edge of a four-object scene, in a form the base writes",
    categories={"edge_object": POSITIONS},
    tasks={"edge_object": "text"},
    vocabulary={"edge_object": tuple(answer(p) for p in PAIRS)},
    build=build_edge_objects,
    concept_words=(*COLORS, *SHAPES),
)
