"""Rule rewards in TRL's signature: format, accuracy (by task), yes/no, choice."""

import pytest

from currvl.rewards import (
    AccuracyReward,
    ChoiceReward,
    accuracy_reward,
    choice_reward,
    format_reward,
    yes_no_reward,
)

GOOD = "<think>reasoning</think>\n<answer>yes</answer>"


def conv(text):
    return [{"role": "assistant", "content": text}]


# ---------------------------------------------------------------- format


def test_format_reward_structure():
    completions = [
        GOOD,
        "  <think>r</think><answer>yes</answer>\n",  # surrounding whitespace is fine
        "Sure! <think>r</think><answer>yes</answer>",  # text before <think>
        "<think>r</think><answer>yes</answer> hope this helps",  # text after </answer>
        "<answer>yes</answer>",  # no think
        "<think>r</think>",  # no answer
        "<think>r</think><answer>yes",  # unclosed answer
        "yes",
        "",
    ]
    assert format_reward([None] * len(completions), completions) == [1, 1, 0, 0, 0, 0, 0, 0, 0]


def test_format_reward_box_rule_only_for_box_rows():
    completions = [
        "<think>r</think><answer>[1, 2, 3, 4]</answer>",
        "<think>r</think><answer>on the left</answer>",
        "<think>r</think><answer>yes</answer>",  # yes/no detection item: no box needed (bug A4)
        "<think>r</think><answer>B</answer>",  # choice detection item: no box needed (bug A4)
        '<think>r</think><answer>{"bbox_2d": [1, 2, 3, 4]}</answer>',
    ]
    tasks = ["box", "box", "yes_no", "choice", "box"]
    assert format_reward([None] * 5, completions, task=tasks) == [1.0, 0.0, 1.0, 1.0, 1.0]


def test_format_reward_conversational():
    assert format_reward([None, None], [conv(GOOD), conv("nope")]) == [1.0, 0.0]
    parts = [{"role": "assistant", "content": [{"type": "text", "text": GOOD}]}]
    assert format_reward([None], [parts]) == [1.0]


# ---------------------------------------------------------------- accuracy


def test_accuracy_reward_mixed_batch():
    rows = [
        ("<think>t</think><answer>The red.</answer>", "red", "text"),
        ("<think>t</think><answer>7.0</answer>", "7", "math"),
        ("<think>t</think><answer>7</answer>", "5", "math"),
        ("<think>t</think><answer></answer>", "5", "math"),
        ("<think>t</think><answer>[0, 0, 6, 10]</answer>", "[0, 0, 10, 10]", "box"),
        ("<think>t</think><answer>[5, 0, 15, 10]</answer>", "[0, 0, 10, 10]", "box"),
        ("<think>t</think><answer>['cat', 'dog']</answer>", "cat", "labels"),
        ("<think>t</think><answer>No.</answer>", "no", "yes_no"),
        ("<think>t</think><answer>A</answer>", "A, C", "choice"),
        ("<think>t</think><answer>C, A</answer>", "A, C", "choice"),
        ("no tags at all: red", "red", "text"),
        ("<think>t</think><answer>x</answer>", None, "text"),  # no reference: skipped
    ]
    completions, answers, tasks = (list(col) for col in zip(*rows, strict=True))
    prompts = [None] * len(rows)
    expected = [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.5, 1.0, 0.2, 1.0, 0.0, None]
    assert accuracy_reward(prompts, completions, answer=answers, task=tasks) == expected
    # TRL also passes conversational completions and its own extra kwargs
    conv_completions = [conv(c) for c in completions]
    extras = {"completion_ids": [[1]] * len(rows), "trainer_state": None, "log_metric": None}
    assert accuracy_reward(prompts, conv_completions, answer=answers, task=tasks, **extras) == expected


def test_accuracy_reward_empty_answer_scores_zero_for_text():
    out = accuracy_reward([None], ["<think>t</think><answer></answer>"], answer=["red"], task=["text"])
    assert out == [0.0]


def test_accuracy_reward_needs_columns():
    with pytest.raises(ValueError, match="task"):
        accuracy_reward([None], [GOOD], answer=["yes"])
    with pytest.raises(ValueError, match="unknown task"):
        accuracy_reward([None], [GOOD], answer=["yes"], task=["detection"])


def test_accuracy_reward_options():
    reward = AccuracyReward(choice_partial_credit=0.5, box_iou_threshold=0.7)
    assert reward.__name__ == "accuracy"
    completions = ["<answer>A</answer>", "<answer>[0, 0, 6, 10]</answer>"]
    out = reward([None, None], completions, answer=["A, C", "[0, 0, 10, 10]"], task=["choice", "box"])
    assert out == [0.5, 0.0]
    with pytest.raises(ValueError):
        AccuracyReward(choice_partial_credit=2.0)


# ---------------------------------------------------------------- yes/no and choice


def test_yes_no_reward_ignores_task_column():
    completions = [
        "<answer>yes</answer>",
        "<answer>no</answer>",
        "<answer>yes or no</answer>",
        "yes",
        "<answer>x</answer>",
    ]
    answers = ["yes", "yes", "yes", "yes", "red"]
    out = yes_no_reward([None] * 5, completions, answer=answers, task=["choice"] * 5)
    assert out == [1.0, 0.0, 0.0, 0.0, None]


def test_choice_reward_and_factory():
    completions = [
        "<answer>B, A</answer>",
        "<answer>A</answer>",
        "<answer>A, D</answer>",
        "<answer>a</answer>",
        "<answer>A</answer>",
    ]
    answers = ["A, B", "A, B", "A, B", "A", "red"]
    assert choice_reward([None] * 5, completions, answer=answers) == [1.0, 0.2, 0.0, 0.0, None]
    strict = ChoiceReward(partial_credit=0.0)
    assert strict.__name__ == "choice"
    assert strict([None] * 5, completions, answer=answers) == [1.0, 0.0, 0.0, 0.0, None]
    assert ChoiceReward(0.5)([None], ["<answer>A</answer>"], answer=["A, B"]) == [0.5]
