"""The object_names domain: a drawn shape named by colour and kind, OOD pairs held out of training."""

import pytest

from currvl.data.prompts import target_text
from currvl.data.synthetic import make_samples
from currvl.data.synthetic.general import COLORS, SHAPES
from currvl.data.synthetic.object_names import IN_DOMAIN_PAIRS, OOD_PAIRS, PAIRS
from tests.data.test_signs import _ink_colour


def test_pairs_split_into_28_in_domain_and_7_ood_one_per_colour():
    assert len(PAIRS) == len(COLORS) * len(SHAPES)
    assert set(IN_DOMAIN_PAIRS) | set(OOD_PAIRS) == set(PAIRS) and not set(IN_DOMAIN_PAIRS) & set(OOD_PAIRS)
    assert sorted(p.split()[0] for p in OOD_PAIRS) == sorted(COLORS)


@pytest.mark.parametrize("split", ["train", "test", "test_ood"])
def test_each_item_names_the_drawn_colour_and_keeps_to_its_split(split):
    items = make_samples("object_names", split, 60)
    allowed = set(OOD_PAIRS if split == "test_ood" else IN_DOMAIN_PAIRS)
    assert {s["answer"] for s in items} <= allowed
    assert len({s["answer"] for s in items}) == len(allowed)  # round-robin covers every pair
    for s in items:
        colour, shape = s["answer"].split()
        assert _ink_colour(s["image"]) == colour
        assert s["rationale"].startswith(f"the shape is {colour} and it ")
        assert target_text(s).endswith(
            f"so it is a {colour} {shape}</think>\n<answer>{colour} {shape}</answer>"
        )
