import math

import pytest

from currvl.rewards import (
    box_iou,
    normalize_text,
    parse_box,
    parse_choice_letters,
    parse_labels,
    parse_yes_no,
    score_answer,
    score_box,
    score_choice,
    score_labels,
    score_math,
    score_text,
    score_yes_no,
)

# ---------------------------------------------------------------- text


def test_normalize_text():
    assert normalize_text("  The   Red Car. ") == "red car"
    assert normalize_text('"an apple"') == "apple"
    assert normalize_text("a") == "a"  # a lone letter is not an article


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        ("Red.", "red", 1.0),
        ("the nodule", "Nodule", 1.0),
        ("red  car", "red car", 1.0),
        ("red car", "car", 0.0),
        ("blue", "red", 0.0),
        ("", "red", 0.0),
        (None, "red", 0.0),
        ("...", "red", 0.0),
    ],
)
def test_score_text(pred, ref, expected):
    assert score_text(pred, ref) == expected


# ---------------------------------------------------------------- math


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        ("7", "5", 0.0),  # paper bug A5 gave 1.0
        ("7", "7.0", 1.0),
        ("7.0000001", "7", 1.0),  # relative tolerance 1e-6
        ("7.01", "7", 0.0),
        ("\\frac{1}{2}", "0.5", 1.0),
        ("0.5", "\\frac{1}{2}", 1.0),
        ("1,000", "1000", 1.0),
        ("-3", "3", 0.0),
        ("-x", "x", 0.0),
        ("x^2+1", "1+x^2", 1.0),
        ("$12$", "12", 1.0),
        ("", "7", 0.0),  # paper bug A5: empty answer was a substring of anything
        (None, "7", 0.0),
    ],
)
def test_score_math(pred, ref, expected):
    assert score_math(pred, ref) == expected


@pytest.mark.parametrize(
    "garbage",
    ["$9^{9^{9}}$", "9^9^9", "(10^{9})!", "1e999", "((((", "\\frac{", "😀 ∑∫", "]]]{{{", "9" * 5000, "$$$"],
)
def test_score_math_never_raises_on_garbage(garbage):
    assert score_math(garbage, "5") == 0.0


# ---------------------------------------------------------------- box


def test_parse_box_forms():
    assert parse_box("[1, 2, 3, 4]") == [1.0, 2.0, 3.0, 4.0]
    assert parse_box("box: [1.5,2,3.25,4] and [9, 9, 9, 9]") == [1.5, 2.0, 3.25, 4.0]
    assert parse_box('{"bbox_2d": [10, 20, 30, 40], "label": "cat"}') == [10.0, 20.0, 30.0, 40.0]
    assert parse_box("[1, 2, 3]") is None
    assert parse_box("[1, 2, 3, 4") is None
    assert parse_box("no box") is None
    assert parse_box(None) is None
    assert parse_box("[1e999, 0, 1, 1]") is None  # non-finite coordinates are not a box


def test_box_iou_exact_values():
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(1 / 3)
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    assert box_iou([0, 0, 10, 10], [0, 0, 6, 10]) == pytest.approx(0.6)
    assert box_iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0  # zero union
    assert box_iou([10, 10, 0, 0], [0, 0, 10, 10]) == 0.0  # inverted box has no area


def test_score_box_threshold():
    assert score_box("[5, 0, 15, 10]", "[0, 0, 10, 10]") == 0.0  # IoU 1/3
    assert score_box("[0, 0, 6, 10]", "[0, 0, 10, 10]") == 1.0  # IoU 0.6
    assert score_box("[0, 0, 6, 10]", "[0, 0, 10, 10]", iou_threshold=0.7) == 0.0
    assert score_box("[0, 0, 5, 10]", "[0, 0, 10, 10]") == 0.0  # IoU exactly 0.5 is not > 0.5
    assert score_box('{"bbox_2d": [0, 0, 10, 10]}', "[0, 0, 10, 10]") == 1.0
    assert score_box("somewhere on the left", "[0, 0, 10, 10]") == 0.0
    assert score_box("", "[0, 0, 10, 10]") == 0.0
    assert score_box("[1e300, 1e300, 1e308, 1e308]", "[0, 0, 1e308, 1e308]") in (0.0, 1.0)


# ---------------------------------------------------------------- labels


def test_parse_labels():
    assert parse_labels("cat, dog") == {"cat", "dog"}
    assert parse_labels("['cat', 'dog']") == {"cat", "dog"}  # paper bug A7 scored list literals 0
    assert parse_labels('["Cat", "the Dog"]') == {"cat", "dog"}
    assert parse_labels("[cat, dog]") == {"cat", "dog"}  # not a literal: brackets dropped, then split
    assert parse_labels("traffic light, car") == {"traffic light", "car"}
    assert parse_labels("猫，狗、鸟") == {"猫", "狗", "鸟"}
    assert parse_labels("cat; dog\nbird") == {"cat", "dog", "bird"}
    assert parse_labels("") == set()
    assert parse_labels("[" * 500) == set()


def test_score_labels_jaccard():
    assert score_labels("cat, dog", "cat") == 0.5
    assert score_labels("cat", "cat, dog") == 0.5
    assert score_labels("dog, cat", "cat, dog") == 1.0
    assert score_labels("cat, bird", "cat, dog") == pytest.approx(1 / 3)
    assert score_labels("['cat', 'dog']", "cat, dog") == 1.0
    assert score_labels("fish", "cat, dog") == 0.0
    assert score_labels("", "cat") == 0.0
    assert score_labels(None, "cat") == 0.0


def test_score_labels_multi_word_label_kept_whole():
    assert score_labels("traffic light", "traffic light") == 1.0
    # whitespace splitting (the paper) would give {traffic, light} vs {traffic, cone}: 1/3
    assert score_labels("traffic light", "traffic cone") == 0.0


# ---------------------------------------------------------------- yes / no


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", "yes"),
        ("Yes.", "yes"),
        ("True", "yes"),
        ("correct", "yes"),
        ("No", "no"),
        ("false", "no"),
        ("incorrect", "no"),
        ("yes or no", None),  # ambiguous: stricter than the paper, where yes wins
        ("maybe", None),
        ("nothing", None),  # "no" only as a whole word
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) == expected


def test_score_yes_no():
    assert score_yes_no("Yes, it is.", "yes") == 1.0
    assert score_yes_no("no", "yes") == 0.0
    assert score_yes_no("yes, no", "yes") == 0.0
    assert score_yes_no("false", "no") == 1.0
    assert score_yes_no(None, "no") == 0.0


# ---------------------------------------------------------------- choice


def test_parse_choice_letters():
    assert parse_choice_letters("B") == {"B"}
    assert parse_choice_letters("(B)") == {"B"}
    assert parse_choice_letters("B. red") == {"B"}
    assert parse_choice_letters("A, C") == {"A", "C"}
    assert parse_choice_letters("a cat") == set()  # the article is not option A
    assert parse_choice_letters("The answer is B") == {"B"}
    assert parse_choice_letters("I think it is C") == {"C"}  # the pronoun is not option I
    assert parse_choice_letters("I and J") == {"I", "J"}
    assert parse_choice_letters("K") == set()
    assert parse_choice_letters("AB") == set()


def test_score_choice_exact_and_order_insensitive():
    assert score_choice("B", "B") == 1.0
    assert score_choice("B, A", "A, B") == 1.0
    assert score_choice("C", "B") == 0.0


def test_score_choice_partial_credit():
    assert score_choice("A", "A, C") == 0.2
    assert score_choice("A", "A, C", partial_credit=0.0) == 0.0
    assert score_choice("A", "A, C", partial_credit=0.5) == 0.5
    assert score_choice("A, B", "A, C") == 0.0  # a wrong extra letter gives 0
    assert score_choice("A, C, D", "A, C") == 0.0


def test_score_choice_article_is_not_option_a():
    assert score_choice("a", "A") == 0.0
    assert score_choice("a dog, B", "A, B") == 0.2  # only B counts


def test_score_choice_empty_and_bad_credit():
    assert score_choice("", "A") == 0.0
    assert score_choice(None, "A") == 0.0
    with pytest.raises(ValueError):
        score_choice("A", "A, B", partial_credit=1.5)


# ---------------------------------------------------------------- dispatch


def test_score_answer_dispatch():
    assert score_answer("red", "red", "text") == 1.0
    assert score_answer("7.0", "7", "math") == 1.0
    assert score_answer("[0, 0, 6, 10]", "[0, 0, 10, 10]", "box") == 1.0
    assert score_answer("[0, 0, 6, 10]", "[0, 0, 10, 10]", "box", box_iou_threshold=0.7) == 0.0
    assert score_answer("cat", "cat, dog", "labels") == 0.5
    assert score_answer("no", "no", "yes_no") == 1.0
    assert score_answer("A", "A, C", "choice") == 0.2
    assert score_answer("A", "A, C", "choice", choice_partial_credit=0.5) == 0.5


def test_score_answer_unknown_task():
    with pytest.raises(ValueError, match="detection"):
        score_answer("x", "x", "detection")


@pytest.mark.parametrize("task", ["text", "math", "box", "labels", "yes_no", "choice"])
@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "]]][[[",
        "{'a': [1, 2",
        "\x00\x01",
        "😀" * 50,
        "1" * 3000,
        "<answer>",
        "nan",
        "inf",
        "-" * 100,
    ],
)
def test_every_scorer_survives_garbage(task, garbage):
    value = score_answer(garbage, "A" if task == "choice" else "5", task)
    assert 0.0 <= value <= 1.0 and not math.isnan(value)
