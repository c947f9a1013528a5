"""The reward registry: recipe names and options to guarded reward callables."""

import pickle

import pytest

from currvl.rewards import (
    OPTION_DEFAULTS,
    REWARD_FACTORIES,
    REWARD_NAMES,
    REWARD_OPTIONS,
    accuracy_reward,
    format_reward,
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


def test_reward_funcs_are_picklable():
    for func in get_reward_funcs(list(REWARD_NAMES), box_iou_threshold=0.7):
        clone = pickle.loads(pickle.dumps(func))
        assert clone.__name__ == func.__name__
    assert format_reward.__name__ == "format_reward"
    assert accuracy_reward.__name__ == "accuracy"  # the name TRL logs it under, as from the registry


def test_names_and_options_come_from_one_table():
    assert tuple(REWARD_FACTORIES) == REWARD_NAMES and tuple(OPTION_DEFAULTS) == REWARD_OPTIONS
    acc = get_reward_funcs(["accuracy"])[0]
    assert acc.choice_partial_credit == OPTION_DEFAULTS["choice_partial_credit"] == 0.2
    assert acc.box_iou_threshold == OPTION_DEFAULTS["box_iou_threshold"] == 0.5


def test_own_reward_by_import_path():
    (own,) = get_reward_funcs(["currvl.rewards:format_reward"])
    assert own.__name__ == "format_reward" and own(prompts=[None], completions=[GOOD]) == [1.0]
    with pytest.raises(ValueError, match="cannot import"):
        get_reward_funcs(["currvl.rewards:no_such_reward"])
