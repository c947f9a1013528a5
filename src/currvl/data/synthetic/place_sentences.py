"""A candidate Curr-ReFT domain "place_sentences": say what the shape is and which edge it is next to.

Curr-ReFT's premise is an open task whose reward is sparse but not out of reach (a few groups of
rollouts carry signal) while its yes/no and choice forms are answered from real skill. Here one
shape stands next to an edge (the general suite's position scenes) and the answer is one sentence,
"The red circle is next to the left edge.": the compositional base writes its shape-and-edge half
by itself ("the cross is next to the right edge", the most common free answer to `unseen_forms`'
edge question) and adds the colour rarely (0.007 of samples, 0.06 of groups: measured with
`benchmarks/answer_forms.py` before this world was built). Whether the premise holds is measured per
base (README, "Before training"), not assumed here.

- ``place``: -> "The red circle is next to the left edge." (exact match after the text rule's
  normalisation). The `<think>` is neutral, as in `unseen_forms`.

Splits: ``train``, ``val`` and ``test`` draw the shape from 24 of the 30 colour-shape pairs;
``test_ood`` from the other 6 (`object_names.OOD_PAIRS`), pairs training never names.
"""

from __future__ import annotations

import random
from typing import Any

from ..schema import make_sample
from .base import World
from .general import COLORS, POSITIONS, SHAPES, edge_cell, render_scene
from .object_names import PAIRS, split_pairs
from .unseen_forms import RATIONALE

QUESTIONS: tuple[str, ...] = (
    "Describe the shape and where it is.",
    "Which shape is in the picture, and which edge is it next to? Answer in a sentence.",
    "Say in one sentence what the shape is and where it is.",
)


def answer(pair: str, edge: str) -> str:
    """The reference sentence for a colour-shape pair next to an edge."""
    return f"The {pair} is next to the {edge} edge."


def build_place_sentences(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """One shape next to the `cls` edge (of an OOD pair on ``test_ood``)."""
    if category != "place":
        raise ValueError(f"unknown place_sentences category {category!r}")
    pair = rng.choice(split_pairs(split))
    colour, shape = pair.split()
    image = render_scene(rng, size, [(*edge_cell(rng, size, cls), shape, colour)])
    return make_sample(
        rng.choice(QUESTIONS), answer(pair, cls), "text", image=image, category=category, rationale=RATIONALE
    )


PLACE_SENTENCES = World(
    name="place_sentences",
    description="say what the shape is and which edge it is next to, in one sentence",
    categories={"place": POSITIONS},
    tasks={"place": "text"},
    vocabulary={"place": tuple(answer(p, e) for p in PAIRS for e in POSITIONS)},
    build=build_place_sentences,
    concept_words=(*COLORS, *SHAPES, *POSITIONS),
)
