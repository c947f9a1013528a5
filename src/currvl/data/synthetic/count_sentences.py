"""The bench's RCPA domain "count_sentences": count the shapes, answer in one fixed sentence.

RCPA's premise is a model that sees the domain's images and has the words but was never asked to
connect them in the domain's answer form, so free GRPO never starts a right answer (every group ties
at 0) while a partial reference gets it going. Here the base counts the general suite's scenes (its
count skill) and knows every word, but the answer is a sentence it was never drilled on, "The number
of shapes is 3." (`unseen_forms`' ``count_sentence`` form, kept out of pretraining): free samples
write the base's own templates, and with the reference forced up to the number the base reads it off
the image. Whether that holds is measured per base (README, "Before training"), not assumed here.

- ``count``: a scene of 1-5 shapes drawn as the general suite draws them -> "The number of shapes
  is N." (exact match after the text rule's normalisation). The `<think>` is neutral, as in
  `unseen_forms`, so a forced prefix never carries the number.

Splits: ``train``, ``val`` and ``test`` ask with `QUESTIONS`; ``test_ood`` asks with `OOD_QUESTIONS`,
wordings training never uses, for the same scenes and answer form.
"""

from __future__ import annotations

import random
from typing import Any

from ..schema import make_sample
from .base import World
from .general import COUNTS, _count_scene, render_scene
from .unseen_forms import RATIONALE, held_out_answer

QUESTIONS: tuple[str, ...] = (
    "How many shapes are there? Answer in a sentence.",
    "Count the shapes in the picture and answer in a full sentence.",
    "How many objects does the image show? Reply with a sentence.",
)
OOD_QUESTIONS: tuple[str, ...] = (
    "Tell me in one sentence how many shapes you see.",
    "What is the total number of figures here? Use a whole sentence.",
)
"""Held out of train, val and test: `test_ood` is the same task asked in wordings never trained on."""


def count_sample(
    rng: random.Random, split: str, n: int, size: tuple[int, int], answer: str, category: str
) -> dict[str, Any]:
    """`n` shapes drawn in distinct cells, asked with `QUESTIONS` (`OOD_QUESTIONS` on ``test_ood``)."""
    image = render_scene(rng, size, _count_scene(rng, size, n))
    question = rng.choice(OOD_QUESTIONS if split == "test_ood" else QUESTIONS)
    return make_sample(question, answer, "text", image=image, category=category, rationale=RATIONALE)


def build_count_sentences(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """`cls` shapes; the answer states their number in the fixed sentence."""
    if category != "count":
        raise ValueError(f"unknown count_sentences category {category!r}")
    return count_sample(
        rng, split, int(cls), size, held_out_answer("count_sentence", count=int(cls)), category
    )


COUNT_SENTENCES = World(
    name="count_sentences",
    description="count the shapes, answer in a sentence the base was never drilled on",
    categories={"count": COUNTS},
    tasks={"count": "text"},
    vocabulary={"count": tuple(held_out_answer("count_sentence", count=int(c)) for c in COUNTS)},
    build=build_count_sentences,
    concept_words=COUNTS,
)
