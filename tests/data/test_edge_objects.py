"""The edge_objects domain: four shapes, one per edge; the answer names the one at the asked edge."""

import numpy as np
import pytest

from currvl.data.prompts import target_text
from currvl.data.synthetic import make_samples
from currvl.data.synthetic.general import COLORS, POSITIONS, SHAPES
from currvl.data.synthetic.object_names import IN_DOMAIN_PAIRS, OOD_PAIRS
from tests.data.test_signs import _ink_colour

STRIP = 28  # one grid cell: an edge's object sits in the outer cell row or column, never in a corner


def _strip(image, side: str):
    rgb = np.asarray(image.convert("RGB"))
    return {
        "left": rgb[:, :STRIP],
        "right": rgb[:, -STRIP:],
        "top": rgb[:STRIP],
        "bottom": rgb[-STRIP:],
    }[side]


@pytest.mark.parametrize("split", ["train", "test", "test_ood"])
def test_the_answer_names_the_object_drawn_at_the_asked_edge(split):
    items = make_samples("edge_objects", split, 40)
    allowed = {f"It is a {p}." for p in (OOD_PAIRS if split == "test_ood" else IN_DOMAIN_PAIRS)}
    assert {s["answer"] for s in items} <= allowed
    asked = set()
    for s in items:
        side = next(p for p in POSITIONS if f"the {p} edge" in s["question"])
        asked.add(side)
        colour = s["answer"].removeprefix("It is a ").split()[0]
        for other in POSITIONS:
            strip = _strip(s["image"], other)
            assert ((strip.max(-1).astype(int) - strip.min(-1)) > 60).sum() > 20  # one shape at every edge
        assert _ink_colour(_strip(s["image"], side)) == colour
        words = set(s["rationale"].split())
        assert not words & (set(COLORS) | set(SHAPES))  # the think names the edge, never the object
        assert target_text(s).endswith(f"<answer>{s['answer']}</answer>")
    assert asked == set(POSITIONS)
