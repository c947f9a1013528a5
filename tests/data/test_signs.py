"""The signs domain: each sign is drawn as its meaning's coloured shape; the base reads its facts as text."""

import numpy as np
import pytest

from currvl.data.synthetic import make_samples
from currvl.data.synthetic.general import COLORS
from currvl.data.synthetic.signs import MEANINGS, SIGNS, sign_facts


def _ink_colour(image) -> str:
    """The general colour nearest the mean of the saturated pixels."""
    rgb = np.asarray(image).reshape(-1, 3).astype(int)
    ink = rgb[(rgb.max(-1) - rgb.min(-1)) > 60].mean(0)
    return min(COLORS, key=lambda c: sum((a - b) ** 2 for a, b in zip(COLORS[c], ink, strict=True)))


@pytest.mark.parametrize("split", ["train", "test", "test_ood"])
def test_each_sign_shows_its_meanings_colour(split):
    items = make_samples("signs", split, 25)
    assert {s["answer"] for s in items} == set(MEANINGS)
    for s in items:
        colour, shape = SIGNS[s["answer"]]
        assert _ink_colour(s["image"]) == colour
        fact = f"{colour} {shape} sign means {s['answer']}"
        assert s["rationale"] == f"the sign is a {colour} {shape}, and a {fact}"
        assert f"A {fact}." in sign_facts()  # the rationale restates a fact the base read
        assert s["image"].size == ((140, 140) if split == "test_ood" else (112, 112))


def test_ood_wall_is_pale_blue():
    image = make_samples("signs", "test_ood", 1)[0]["image"]
    corner = np.asarray(image)[0, 0]
    assert tuple(corner) == (205, 222, 240)


def test_facts_name_every_sign_and_never_a_picture_or_question():
    facts = sign_facts()
    for meaning, (colour, shape) in SIGNS.items():
        assert sum(f"{colour} {shape}" in f and meaning in f for f in facts) == 4
    assert not any("?" in f or "<" in f for f in facts)
