"""The reward registry: recipe names and options to guarded reward callables."""

import pickle

import pytest

from currvl.rewards import (
    REWARD_NAMES,
    get_reward_funcs,
)

GOOD = "<think>reasoning</think>\n<answer>yes</answer>"

# ---------------------------------------------------------------- registry


def test_get_reward_funcs_names_and_options():
    funcs = get_reward_funcs(["format", "accuracy", "yes_no", "choice"], choice_partial_credit=0.5)
    assert [f.__name__ for f in funcs] == ["format", "accuracy", "yes_no", "choice"]
    fmt, acc, yes_no, choice = funcs
    assert fmt(prompts=[None], completions=[GOOD], task=["yes_no"]) == [1.0]
    assert acc(prompts=[None], completions=["<answer>A</answer>"], answer=["A, B"], task=["choice"]) == [0.5]
    assert yes_no(prompts=[None], completions=["<answer>no</answer>"], answer=["no"]) == [1.0]
    assert choice(prompts=[None], completions=["<answer>B</answer>"], answer=["A, B"]) == [0.5]


def test_get_reward_funcs_unknown():
    with pytest.raises(ValueError, match="accuracy"):
        get_reward_funcs(["format", "bleu"])
    with pytest.raises(ValueError, match="box_iou_threshold"):
        get_reward_funcs(["accuracy"], iou=0.3)


def test_reward_funcs_survive_pickling_with_their_options():
    """Dataloader workers and accelerate's processes receive pickled reward functions: a clone must
    score exactly as the original, options included."""
    box = ["<answer>[0, 0, 10, 10]</answer>"]
    for func in get_reward_funcs(list(REWARD_NAMES), box_iou_threshold=0.3):
        clone = pickle.loads(pickle.dumps(func))
        kwargs = {"prompts": [None], "completions": box, "answer": ["[0, 0, 10, 16]"], "task": ["box"]}
        assert clone(**kwargs) == func(**kwargs), func.__name__


def test_default_options_are_the_scorers_rules():
    """Without options, accuracy gives a strict subset of a multi-select answer 0.2 and needs IoU > 0.5."""
    (acc,) = get_reward_funcs(["accuracy"])
    partial = acc(prompts=[None], completions=["<answer>A</answer>"], answer=["A, B"], task=["choice"])
    assert partial == [0.2]
    # IoU of [0,0,10,10] with [0,0,10,16] is 100/160 = 0.625 (> 0.5); with [0,0,10,22] 100/220 (< 0.5)
    hit = acc(
        prompts=[None],
        completions=["<answer>[0, 0, 10, 10]</answer>"],
        answer=["[0, 0, 10, 16]"],
        task=["box"],
    )
    miss = acc(
        prompts=[None],
        completions=["<answer>[0, 0, 10, 10]</answer>"],
        answer=["[0, 0, 10, 22]"],
        task=["box"],
    )
    assert (hit, miss) == ([1.0], [0.0])
    (loose,) = get_reward_funcs(["accuracy"], box_iou_threshold=0.4)
    assert loose(
        prompts=[None],
        completions=["<answer>[0, 0, 10, 10]</answer>"],
        answer=["[0, 0, 10, 22]"],
        task=["box"],
    ) == [1.0]


def test_own_reward_by_import_path():
    (own,) = get_reward_funcs(["currvl.rewards:format_reward"])
    assert own.__name__ == "format_reward" and own(prompts=[None], completions=[GOOD]) == [1.0]
    with pytest.raises(ValueError, match="cannot import"):
        get_reward_funcs(["currvl.rewards:no_such_reward"])
