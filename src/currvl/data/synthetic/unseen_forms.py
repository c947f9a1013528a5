"""The general suite's own scenes and words, asked in answer forms the base never trained on.

Why: RCPA's pre-alignment forces part of the reference and hopes the policy writes the rest. That
only works if the base can continue a forced prefix in a form it was not drilled on, with sight and
words it already has. This world measures exactly that, with nothing new to see or name: one shape
at an edge, or a few shapes to count, drawn as the general suite draws them, each answer a form that
`currvl model pretrain` keeps out of every batch (its describe stage has other forms; a test holds
the two apart). The `<think>` part names no fact ("i look at the picture"), so the answer's words
come from the image, not from a rationale that already stated them.

Categories (exact match after the text rule's normalisation); each puts a word read off the image
late in the answer, so 60% of the reference forced still leaves one for the model to write:
- ``edge_sentence``: "A red circle next to the left edge." (the one-line report of issue 30);
- ``count_sentence``: "The number of shapes is 3.";
- ``colour_sentence``: "The colour of the circle is red.";
- ``attribute_list``: "colour: red, shape: circle, edge: left".
"""

from __future__ import annotations

import random
from typing import Any

from ..schema import make_sample
from .base import World
from .general import COLORS, COUNTS, POSITIONS, SHAPES, _count_scene, edge_cell, render_scene

RATIONALE = "i look at the picture"
"""The reference's `<think>`: neutral on purpose, so a forced prefix never carries an answer word."""

QUESTIONS: dict[str, str] = {
    "edge_sentence": "Describe the shape and where it is.",
    "count_sentence": "How many shapes are there? Answer in a sentence.",
    "colour_sentence": "What colour is the shape? Answer in a sentence.",
    "attribute_list": "List the colour, the shape and the edge of the object.",
}


def held_out_answer(category: str, colour: str = "", shape: str = "", edge: str = "", count: int = 0) -> str:
    """The answer of a held-out form (`currvl.data.synthetic.describe` checks it never trains on one)."""
    if category == "edge_sentence":
        return f"A {colour} {shape} next to the {edge} edge."
    if category == "count_sentence":
        return f"The number of shapes is {count}."
    if category == "colour_sentence":
        return f"The colour of the {shape} is {colour}."
    if category == "attribute_list":
        return f"colour: {colour}, shape: {shape}, edge: {edge}"
    raise ValueError(f"unknown unseen_forms category {category!r}")


def build_unseen_forms(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """One item; `cls` is the count for ``count_sentence``, else the edge the shape is next to."""
    del split
    if category not in QUESTIONS:
        raise ValueError(f"unknown unseen_forms category {category!r}")
    if category == "count_sentence":
        n = int(cls)
        image = render_scene(rng, size, _count_scene(rng, size, n))
        answer = held_out_answer(category, count=n)
    else:
        colour, shape = rng.choice(list(COLORS)), rng.choice(SHAPES)
        row, col = edge_cell(rng, size, cls)
        image = render_scene(rng, size, [(row, col, shape, colour)])
        answer = held_out_answer(category, colour, shape, cls)
    return make_sample(
        QUESTIONS[category], answer, "text", image=image, category=category, rationale=RATIONALE
    )


CONCEPT_WORDS: tuple[str, ...] = (*COLORS, *SHAPES, *POSITIONS, *COUNTS)
"""The words an answer of this world must read off the image (the concepts a prefix cut stops before)."""

UNSEEN_FORMS = World(
    name="unseen_forms",
    description="the general suite's scenes and words in answer forms the base never trained on",
    categories={
        "edge_sentence": POSITIONS,
        "count_sentence": COUNTS,
        "colour_sentence": POSITIONS,
        "attribute_list": POSITIONS,
    },
    tasks={c: "text" for c in QUESTIONS},
    vocabulary={c: None for c in QUESTIONS},
    build=build_unseen_forms,
    concept_words=CONCEPT_WORDS,
)
