"""A candidate Curr-ReFT domain "picture_counts": count the shapes, answer "The picture has 3 shapes."

Curr-ReFT's premise is an open task whose reward is sparse but not out of reach (a few groups of
rollouts carry signal) while its yes/no and choice forms are answered from real skill, so the judge
stage teaches something that carries over. The compositional base judges a candidate count from skill
(`count_sentences`' yes/no form, 0.685 against chance 0.5) and the frozen tower separates the counts
(0.983). Asked `count_sentences`' questions, it writes this sentence with the right number in 0.019 of
its free samples, 0.110 of groups of 8 holding one (`benchmarks/answer_forms.py`, measured before this
world was built; "1 shapes" as the base's own grammar says it). Whether the premise holds is measured
per base (README, "Before training"), not assumed here.

- ``count``: a scene of 1-5 shapes -> "The picture has N shapes." (exact match after the text rule's
  normalisation). The `<think>` is neutral, so a forced prefix never carries the number.

Splits as `count_sentences`: ``test_ood`` asks in wordings training never uses.
"""

from __future__ import annotations

import random
from typing import Any

from .base import World
from .count_sentences import count_sample
from .general import COUNTS


def answer(n: int) -> str:
    """The reference sentence for `n` shapes."""
    return f"The picture has {n} shapes."


def build_picture_counts(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """`cls` shapes; the answer states their number in the base's own sentence."""
    if category != "count":
        raise ValueError(f"unknown picture_counts category {category!r}")
    return count_sample(rng, split, int(cls), size, answer(int(cls)), category)


PICTURE_COUNTS = World(
    name="picture_counts",
    description="count the shapes, answer in a sentence the base writes now and then",
    categories={"count": COUNTS},
    tasks={"count": "text"},
    vocabulary={"count": tuple(answer(int(c)) for c in COUNTS)},
    build=build_picture_counts,
    concept_words=COUNTS,
)
