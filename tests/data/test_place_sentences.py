"""The place_sentences domain: the drawn shape and the edge it is next to, in one sentence."""

import re

import numpy as np
import pytest

from currvl.data.prompts import target_text
from currvl.data.synthetic import make_samples
from currvl.data.synthetic.general import POSITIONS
from currvl.data.synthetic.object_names import IN_DOMAIN_PAIRS, OOD_PAIRS
from tests.data.test_signs import _ink_colour

SENTENCE = re.compile(r"The (\w+ \w+) is next to the (\w+) edge\.")


def _ink_side(image) -> str:
    """The edge nearest the centre of the saturated pixels."""
    rgb = np.asarray(image.convert("RGB")).astype(int)
    rows, cols = np.nonzero((rgb.max(-1) - rgb.min(-1)) > 60)
    y, x = rows.mean() / rgb.shape[0], cols.mean() / rgb.shape[1]
    return min(POSITIONS, key=lambda s: {"left": x, "right": 1 - x, "top": y, "bottom": 1 - y}[s])


@pytest.mark.parametrize("split", ["train", "test", "test_ood"])
def test_the_sentence_names_the_drawn_shape_and_its_edge(split):
    items = make_samples("place_sentences", split, 40)
    allowed = set(OOD_PAIRS if split == "test_ood" else IN_DOMAIN_PAIRS)
    edges = set()
    for s in items:
        pair, edge = SENTENCE.fullmatch(s["answer"]).groups()
        assert pair in allowed
        edges.add(edge)
        assert _ink_colour(s["image"]) == pair.split()[0]
        assert _ink_side(s["image"]) == edge
        assert not set(s["rationale"].split()) & set(pair.split() + [edge])  # a neutral think
        assert target_text(s).endswith(f"<answer>{s['answer']}</answer>")
    assert edges == set(POSITIONS)
