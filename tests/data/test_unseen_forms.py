"""The held-out answer forms: drawn as the general suite draws, and never a form the base trains on."""

import itertools
import re

import pytest

from currvl.data.synthetic import make_samples
from currvl.data.synthetic.describe import (
    describe_item,
    holds_a_held_out_form,
    turns_away_from_a_held_out_form,
)
from currvl.data.synthetic.general import COLORS, POSITIONS, SHAPES
from currvl.data.synthetic.unseen_forms import QUESTIONS, RATIONALE, UNSEEN_FORMS, held_out_answer
from currvl.rewards.scoring import normalize_text


def _held_out_answers() -> set[str]:
    answers = set()
    for c, s, e in itertools.product(COLORS, SHAPES, POSITIONS):
        for category in ("edge_sentence", "colour_sentence", "attribute_list"):
            answers.add(normalize_text(held_out_answer(category, c, s, e)))
    answers.update(normalize_text(held_out_answer("count_sentence", count=n)) for n in range(1, 6))
    return answers


@pytest.mark.parametrize("grammar", ["phrases", "compositional"])
def test_no_drawn_description_holds_a_held_out_form(grammar):
    held_out = _held_out_answers()
    for i in range(400):
        item = describe_item(i, grammar=grammar)
        assert normalize_text(item["answer"]) not in held_out
        assert not holds_a_held_out_form(item["answer"]), item["answer"]
        assert item["question"] not in QUESTIONS.values()
        assert item["rationale"] != RATIONALE


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("A red circle next to the left edge.", True),
        ("The red circle, next to the left edge", True),  # articles and punctuation do not hide it
        ("There is a red circle next to the left edge.", True),  # nor words around it
        ("The red circle sits next to the left edge.", False),
        ("colour: red, shape: circle, edge: left", True),
        ("shape: circle, colour: red, edge: left", False),
        ("The number of shapes is 4.", True),
        ("The count is 4.", False),
    ],
)
def test_the_filter_catches_a_held_out_form_inside_any_text(text, held):
    assert holds_a_held_out_form(text) is held


@pytest.mark.parametrize("category", list(UNSEEN_FORMS.categories))
def test_items_answer_what_is_drawn(category):
    items = [s for s in make_samples("unseen_forms", "test", 40) if s["category"] == category]
    assert len(items) == 10
    for s in items:
        assert s["rationale"] == RATIONALE and s["task"] == "text"
        assert s["image"].size == (112, 112)
        words = normalize_text(s["answer"]).replace(",", " ").split()
        if category == "count_sentence":
            assert any(w.isdigit() for w in words)
            continue
        assert {w for w in words if w in COLORS} and {w for w in words if w in SHAPES}
        for edge in [w for w in words if w in POSITIONS]:  # the forms that name the edge
            assert _side_of_ink(s["image"]) == edge


def _side_of_ink(image) -> str:
    """The edge nearest the centroid of the coloured pixels (the background is near-white)."""
    import numpy as np

    rgb = np.asarray(image).astype(int)
    ys, xs = np.nonzero(rgb.max(-1) - rgb.min(-1) > 60)
    h, w = rgb.shape[:2]
    cx, cy = xs.mean() / w - 0.5, ys.mean() / h - 0.5
    if abs(cx) > abs(cy):
        return "left" if cx < 0 else "right"
    return "top" if cy < 0 else "bottom"


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = ["<start>", *re.findall(r"[a-z0-9]+", text.lower()), "<end>"]
    return set(zip(words, words[1:], words[2:], strict=False))


def test_the_compositional_grammar_shows_every_piece_of_a_held_out_form_but_never_the_form():
    """Composing is possible: every word trigram of every held-out form (articles kept, start and end
    marked) occurs in some compositional description (its question or its answer: "number of shapes"
    only in questions), while no answer holds a whole form (the test above).
    The phrases grammar lacks pieces ("of shapes is", "of the circle"): writing a form takes more there."""
    seen = {g: set() for g in ("phrases", "compositional")}
    for g, pieces in seen.items():
        for i in range(3000):
            item = describe_item(i, grammar=g)
            pieces |= _trigrams(item["answer"]) | _trigrams(item["question"])
    forms = [
        held_out_answer(c, "red", "circle", "left")
        for c in ("edge_sentence", "colour_sentence", "attribute_list")
    ]
    forms.append(held_out_answer("count_sentence", count=3))
    for form in forms:
        assert _trigrams(form) <= seen["compositional"], _trigrams(form) - seen["compositional"]
    missing = set().union(*(_trigrams(form) for form in forms)) - seen["phrases"]
    assert {("of", "shapes", "is"), ("of", "the", "circle")} <= missing


def test_no_compositional_description_of_one_shape_turns_away_from_a_held_out_form():
    """An opening shared with a held-out form and a different word after it teaches that the form goes
    on otherwise (v4's "The number of shapes here is 3"); two-shape scenes are other pictures."""
    turned = []
    for i in range(3000):
        item = describe_item(i, grammar="compositional")
        two_shapes = any(p in item["question"] for p in ("two shapes", "where the shapes are"))
        if not two_shapes and turns_away_from_a_held_out_form(item["answer"]):
            turned.append(item["answer"])
    assert not turned, turned[:5]


@pytest.mark.parametrize(
    ("text", "turns"),
    [
        ("The number of shapes here is 3.", True),
        ("The colour of the star at the left edge is red", True),
        ("colour: red, shape: circle.", False),  # ends early
        ("The number of objects is 3.", False),
        ("A red circle next to the left edge.", False),  # the form itself (the other filter's case)
    ],
)
def test_turning_away_is_a_different_word_after_a_shared_opening(text, turns):
    assert turns_away_from_a_held_out_form(text) is turns


def test_an_unknown_grammar_is_refused():
    with pytest.raises(ValueError, match="compositional"):
        describe_item(0, grammar="freeform")
