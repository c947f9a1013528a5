"""The count worlds (count_sentences, picture_counts): the drawn count stated in one fixed sentence, OOD
wordings held out."""

import numpy as np
import pytest

from currvl.data.prompts import target_text
from currvl.data.synthetic import make_samples
from currvl.data.synthetic.count_sentences import OOD_QUESTIONS, QUESTIONS
from currvl.data.synthetic.general import COUNTS


def _shapes_drawn(image) -> int:
    """Blobs of saturated ink (8-neighbours, 5 pixels or more: a star's anti-aliased tips stay attached),
    counted on the image itself."""
    rgb = np.asarray(image.convert("RGB")).astype(int)
    ink = (rgb.max(-1) - rgb.min(-1)) > 60
    seen = np.zeros_like(ink)
    blobs = 0
    for start in zip(*np.nonzero(ink), strict=True):
        if seen[start]:
            continue
        stack, size = [start], 0
        seen[start] = True
        while stack:
            r, c = stack.pop()
            size += 1
            for nr in (r - 1, r, r + 1):
                for nc in (c - 1, c, c + 1):
                    inside = 0 <= nr < ink.shape[0] and 0 <= nc < ink.shape[1]
                    if inside and ink[nr, nc] and not seen[nr, nc]:
                        seen[nr, nc] = True
                        stack.append((nr, nc))
        blobs += size >= 5
    return blobs


SENTENCES = {"count_sentences": "The number of shapes is {}.", "picture_counts": "The picture has {} shapes."}


@pytest.mark.parametrize("world", sorted(SENTENCES))
@pytest.mark.parametrize("split", ["train", "test", "test_ood"])
def test_each_item_states_the_drawn_count_in_the_fixed_sentence(world, split):
    sentence = SENTENCES[world]
    items = make_samples(world, split, 40)
    assert {s["answer"] for s in items} == {sentence.format(c) for c in COUNTS}
    for s in items:
        n = next(int(c) for c in COUNTS if s["answer"] == sentence.format(c))
        assert _shapes_drawn(s["image"]) == n
        assert target_text(s).endswith(f"<answer>{sentence.format(n)}</answer>")
        assert str(n) not in s["rationale"]  # a forced prefix never carries the number


@pytest.mark.parametrize("world", sorted(SENTENCES))
def test_ood_split_asks_in_wordings_training_never_uses(world):
    assert not set(QUESTIONS) & set(OOD_QUESTIONS)
    assert {s["question"] for s in make_samples(world, "train", 60)} == set(QUESTIONS)
    assert {s["question"] for s in make_samples(world, "test_ood", 60)} == set(OOD_QUESTIONS)
