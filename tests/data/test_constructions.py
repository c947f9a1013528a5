"""The pretraining's everyday English: the constructions with none of the scenes' words."""

import random
import re

from currvl.data.synthetic import constructions as con
from currvl.data.synthetic.describe import holds_a_held_out_form
from currvl.data.synthetic.general import COLORS, COUNTS, POSITIONS, SHAPES

SCENE_WORDS = {*COLORS, *SHAPES, *POSITIONS, *COUNTS}
SCENE_NOUNS = {
    "shape",
    "shapes",
    "object",
    "objects",
    "thing",
    "things",
    "figure",
    "picture",
    "image",
    "edge",
}


def _paragraphs(n=1500):
    return [con.constructions_text(i, seed=0) for i in range(n)]


def test_no_sentence_holds_a_scene_word_or_a_held_out_form():
    """The held-out forms stay compositions: their words come from the image, never from this text."""
    for text in _paragraphs():
        words = set(re.findall(r"[a-z0-9]+", text.lower()))
        assert not words & (SCENE_WORDS | SCENE_NOUNS), text
        assert not holds_a_held_out_form(text), text


def test_a_crafted_scene_word_would_be_caught():
    """The check above can fail: a sentence about a red circle is flagged."""
    words = set(re.findall(r"[a-z0-9]+", "The colour of the circle is red.".lower()))
    assert words & SCENE_WORDS == {"circle", "red"}


def test_every_construction_is_drawn_and_the_text_is_a_function_of_seed_and_index():
    rng = random.Random(0)
    firsts = {con.construction_sentence(rng).lower().split()[0].rstrip(":") for _ in range(3000)}
    assert {"the", "a", "there", "we", "where", "what", "how", "most", "her", "i"} <= firsts
    assert con.constructions_text(7, seed=0) == con.constructions_text(7, seed=0)
    assert con.constructions_text(7, seed=0) != con.constructions_text(7, seed=1)
    assert len({con.constructions_text(i) for i in range(200)}) == 200


def test_key_value_lists_take_three_keys_in_any_order():
    rng = random.Random(1)
    lists = [s for s in (con.construction_sentence(rng) for _ in range(3000)) if s.count(": ") == 3]
    orders = {tuple(part.split(":")[0].strip().lower() for part in s.rstrip(".").split(", ")) for s in lists}
    assert len(orders) > 100 and all(len(set(o)) == 3 for o in orders)


def test_scene_words_enter_only_the_constructions_no_held_out_form_has():
    """With scene_words, shapes and colours of the scenes fill noun and colour slots, never in the
    number-of, colour-of, "a ... next to" or key-value constructions, and no sentence opens like a
    held-out form and turns away from it."""
    from currvl.data.synthetic.describe import turns_away_from_a_held_out_form

    rng = random.Random(3)
    sentences = [con.construction_sentence(rng, scene_words=True) for _ in range(4000)]
    scene = [s for s in sentences if set(re.findall(r"[a-z]+", s.lower())) & {*COLORS, *SHAPES, "shapes"}]
    assert 0.3 < len(scene) / len(sentences) < 0.6
    for s in scene:
        low = s.lower()
        assert not low.startswith(("the number of", "the colour of", "a ")) and low.count(": ") < 3, s
        assert not holds_a_held_out_form(s) and not turns_away_from_a_held_out_form(s), s
    everyday = [s for s in sentences if s not in scene]
    assert any(s.lower().startswith("the number of") for s in everyday)
    assert any(s.lower().startswith("the colour of") for s in everyday)
    assert con.constructions_text(5, scene_words=True) != con.constructions_text(5)
