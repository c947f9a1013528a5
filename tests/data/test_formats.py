"""Judge / choice conversion: balance, exactly the right options, box distractors, determinism."""

from __future__ import annotations

import pytest
from PIL import Image

from currvl.data.formats import (
    answer_pools,
    box_distractors,
    concept_items,
    convert,
    judge_candidate,
    mix_formats,
    to_choice,
    to_judge,
)
from currvl.data.schema import OPTION_LETTERS, make_sample
from currvl.data.synthetic import make_samples
from currvl.rewards import score_answer
from currvl.rewards.scoring import box_iou, parse_box


@pytest.fixture(scope="module")
def scan():
    return make_samples("scan", "train", 40, seed=0)


@pytest.fixture(scope="module")
def general():
    return make_samples("general", "train", 50, seed=0)


def test_judge_is_balanced_and_truthful(scan, general):
    for samples in (scan, general):
        judged = convert(samples, "judge", seed=3)
        answers = [j["answer"] for j in judged]
        assert answers.count("yes") == answers.count("no") == len(samples) // 2
        for orig, j in zip(samples, judged, strict=True):
            assert j["task"] == "yes_no" and j["image"] is orig["image"]
            candidate = j["question"].rsplit("Is the answer ", 1)[1].rstrip("?")
            # "yes" exactly when the candidate scores as the true answer under the original task
            truth = score_answer(candidate, orig["answer"], orig["task"]) == 1.0
            assert (j["answer"] == "yes") == truth, (orig["answer"], candidate)


def test_choice_has_exactly_one_correct_option(scan, general):
    for samples in (scan, general):
        for orig, c in zip(samples, convert(samples, "choice", seed=1), strict=True):
            assert c["task"] == "choice" and len(c["options"]) == 4 and len(set(c["options"])) == 4
            correct = [o for o in c["options"] if score_answer(o, orig["answer"], orig["task"]) == 1.0]
            assert correct == [orig["answer"]]
            assert c["answer"] == OPTION_LETTERS[c["options"].index(orig["answer"])]


def test_box_distractors_overlap_the_truth_less_than_half(scan):
    boxes = [s for s in scan if s["task"] == "box"]
    assert boxes
    for s in boxes:
        truth = parse_box(s["answer"])
        import random

        for d in box_distractors(s, random.Random(0), 3):
            b = parse_box(d)
            assert box_iou(b, truth) < 0.5
            assert 0 <= b[0] < b[2] <= s["image"].size[0] and 0 <= b[1] < b[3] <= s["image"].size[1]


def test_number_distractors_are_near_and_distinct(general):
    counts = [s for s in general if s["category"] == "count"]
    for s in counts:
        c = to_choice(s, answer_pools(general), seed=0)
        values = [int(o) for o in c["options"]]
        assert len(set(values)) == 4 and all(v >= 0 for v in values)
        assert max(abs(v - int(s["answer"])) for v in values) <= 6


def test_label_sets_get_several_correct_letters():
    img = Image.new("RGB", (56, 56))
    samples = [
        make_sample("Which objects?", "cat, dog", "labels", image=img, category="objects", id="a"),
        make_sample("Which objects?", "car", "labels", image=img, category="objects", id="b"),
        make_sample("Which objects?", "tree, bird", "labels", image=img, category="objects", id="c"),
    ]
    c = to_choice(samples[0], answer_pools(samples), seed=0)
    picked = {c["options"][OPTION_LETTERS.index(letter.strip())] for letter in c["answer"].split(",")}
    assert picked == {"cat", "dog"} and len(c["options"]) == 4
    assert score_answer("A, B", "B, A", "choice") == 1.0  # order-insensitive scoring of such answers


def test_conversion_is_deterministic_and_seed_dependent(scan):
    assert convert(scan, "choice", seed=7) == convert(scan, "choice", seed=7)
    assert convert(scan, "judge", seed=7) == convert(scan, "judge", seed=7)
    assert convert(scan, "choice", seed=7) != convert(scan, "choice", seed=8)


def test_open_and_pass_through(scan):
    assert convert(scan, "open") == scan
    yn = make_sample("Is it red?", "yes", "yes_no")
    assert to_judge(yn, {}) == yn and to_choice(yn, {}) == yn
    with pytest.raises(ValueError, match="unknown format"):
        convert(scan, "essay")


def test_too_few_distractors_is_a_clear_error():
    s = [make_sample("Which finding?", "cyst", "text", category="finding", id="x")]
    with pytest.raises(ValueError, match="only 0 other answers"):
        convert(s, "choice")


def test_mix_formats_cycles_formats(general):
    mixed = mix_formats(general, ["open", "judge", "choice"], seed=0)
    assert [m["task"] for m in mixed[:3]] == [general[0]["task"], "yes_no", "choice"]
    assert mixed[0] == general[0]
    judges = [m["answer"] for m in mixed if m["task"] == "yes_no"]
    assert {"yes", "no"} <= set(judges)
    with pytest.raises(ValueError, match="unknown format"):
        mix_formats(general, ["open", "quiz"])


def test_judge_candidate_reads_back_what_to_judge_asks():
    samples = make_samples("general", "test", 30)
    pools = answer_pools(samples)
    for s in samples:
        asked_true = to_judge(s, pools, truth=True)
        assert judge_candidate(asked_true) == s["answer"]
        asked_false = to_judge(s, pools, truth=False)
        assert judge_candidate(asked_false) not in (None, s["answer"])
        assert judge_candidate(s) is None  # an open item asks about no candidate


def test_choice_text_lists_the_options_and_asks_for_the_right_ones_text():
    from currvl.data.formats import CHOICE_TEXT_INSTRUCTION
    from currvl.data.synthetic import make_samples

    samples = make_samples("object_names", "train", 12)
    for s, c, t in zip(
        samples, convert(samples, "choice", seed=0), convert(samples, "choice_text", seed=0), strict=True
    ):
        assert t["answer"] == s["answer"] and t["task"] == "text" and t["options"] is None
        assert t["question"].endswith(CHOICE_TEXT_INSTRUCTION)
        for letter, option in zip("ABCD", c["options"], strict=False):  # the choice item's own options
            assert f"\n{letter}. {option}" in t["question"]
        assert s["answer"] in c["options"]


def test_choice_text_refuses_a_box_item():
    from currvl.data.synthetic import make_samples

    boxes = [s for s in make_samples("scan", "train", 20) if s["task"] == "box"]
    with pytest.raises(ValueError, match="choice_text needs a single-answer"):
        convert(boxes, "choice_text")


def test_concept_items_ask_about_the_concept_a_sentence_names():
    """ "The picture has 3 shapes." is asked about as "3"; several concepts in the order the answer names
    them; boxes and yes/no items pass through; a judge then asks "Is the answer 3?"."""
    items = [
        make_sample("How many?", "The picture has 3 shapes.", "text", category="count", id="a"),
        make_sample("How many?", "The picture has 5 shapes.", "text", category="count", id="b"),
        make_sample("Where?", "The red circle is next to the left edge.", "text", category="place", id="c"),
        make_sample("Box it.", "[1, 2, 3, 4]", "box", category="box", id="d"),
        make_sample("Is it?", "yes", "yes_no", category="judged", id="e"),
    ]
    about = concept_items(items, ["3", "5", "left", "red", "circle", "33"])
    assert [s["answer"] for s in about] == ["3", "5", "red circle left", "[1, 2, 3, 4]", "yes"]
    assert [s["question"] for s in about] == [s["question"] for s in items]
    assert items[0]["answer"] == "The picture has 3 shapes."  # the caller's items are untouched
    judged = convert(about[:2], "judge", seed=0)
    assert {judge_candidate(j) for j in judged} <= {"3", "5"}
    assert all(
        j["answer"] == ("yes" if judge_candidate(j) == s["answer"] else "no")
        for j, s in zip(judged, about[:2], strict=True)
    )


def test_concept_items_name_an_item_without_a_concept():
    items = [make_sample("How many?", "The picture has many shapes.", "text", id="row-7")]
    with pytest.raises(ValueError, match="'row-7'.*names none of the concept words"):
        concept_items(items, ["1", "2"])
    with pytest.raises(ValueError, match="data.concepts"):
        concept_items(items, [])
