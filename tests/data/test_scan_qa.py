"""The partially known domain scan_qa: answers in the vocabulary, an OOD split that really shifts."""

import numpy as np

from currvl.data.synthetic import SCAN_QA, make_samples
from currvl.data.validation import validate_samples
from currvl.rewards.scoring import parse_box


def test_items_are_valid_deterministic_and_balanced():
    a = make_samples("scan_qa", "train", 40)
    b = make_samples("scan_qa", "train", 40)
    assert [s["answer"] for s in a] == [s["answer"] for s in b]
    assert a[3]["image"].tobytes() == b[3]["image"].tobytes()
    assert validate_samples(a) == []
    for s in a:
        vocab = SCAN_QA.vocabulary[s["category"]]
        if vocab is None:
            box = parse_box(s["answer"])
            assert (
                box
                and 0 <= box[0] < box[2] <= s["image"].size[0]
                and 0 <= box[1] < box[3] <= s["image"].size[1]
            )
        else:
            assert s["answer"] in vocab
    counts = [s["answer"] for s in a if s["category"] == "cell_count"]
    assert sorted(set(counts)) == ["1", "2", "3", "4"]


def test_ood_split_uses_another_count_range():
    ood = [s["answer"] for s in make_samples("scan_qa", "test_ood", 40) if s["category"] == "cell_count"]
    assert set(ood) == {"5", "6"}
    ind = [s["answer"] for s in make_samples("scan_qa", "test", 40) if s["category"] == "cell_count"]
    assert set(ind) <= {"1", "2", "3", "4"}


def _stained(img) -> np.ndarray:
    """(y, x) of the stained pixels: glass sums to about 686, a cell's body below 560."""
    a = np.asarray(img, dtype=np.int32).sum(axis=2)
    return np.argwhere(a < 560)


def test_ood_slides_use_another_stain():
    """In-domain nuclei are purple (red well above green), the OOD ones blue (green above red)."""
    for split, purple in (("test", True), ("test_ood", False)):
        for s in make_samples("scan_qa", split, 12):
            r, g, _ = min(s["image"].getdata(), key=sum)
            assert (r > g) == purple


def test_cells_sit_where_the_answers_say():
    """The edge answer names the edge the stain is next to, the larger answer the side whose stain
    covers more pixels, and a box holds the cell's nucleus."""
    for s in make_samples("scan_qa", "test", 80):
        w, h = s["image"].size
        px = _stained(s["image"])
        assert len(px) > 0
        if s["category"] == "cell_edge":
            y, x = px.mean(axis=0)
            near = {"left": x < 28, "right": x > w - 28, "top": y < 28, "bottom": y > h - 28}
            assert near[s["answer"]], (s["answer"], x, y)
        elif s["category"] == "cell_larger":
            cols = np.unique(px[:, 1])
            cut = cols[np.argmax(np.diff(cols))] + 1  # the widest gap between the two cells
            left, right = (px[:, 1] < cut).sum(), (px[:, 1] >= cut).sum()
            assert (left > right) == (s["answer"] == "left")
        elif s["category"] == "cell_box":
            x1, y1, x2, y2 = parse_box(s["answer"])
            inside = (px[:, 1] >= x1) & (px[:, 1] < x2) & (px[:, 0] >= y1) & (px[:, 0] < y2)
            assert inside.mean() > 0.9
