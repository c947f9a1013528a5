"""The partially known domain scan_qa: answers in the vocabulary, an OOD split that really shifts."""

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
    counts = [s["answer"] for s in a if s["category"] == "speck_count"]
    assert sorted(set(counts)) == ["1", "2", "3", "4"]


def test_ood_split_uses_another_count_range():
    ood = [s["answer"] for s in make_samples("scan_qa", "test_ood", 40) if s["category"] == "speck_count"]
    assert set(ood) == {"5", "6"}
    ind = [s["answer"] for s in make_samples("scan_qa", "test", 40) if s["category"] == "speck_count"]
    assert set(ind) <= {"1", "2", "3", "4"}
