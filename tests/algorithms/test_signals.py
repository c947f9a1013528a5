"""Signal metrics on crafted rewards and completions."""

import math

import pytest
import torch

from currvl.algorithms.signals import (
    answer_char_span,
    answer_token_mask,
    task_reward,
    task_reward_columns,
    zero_variance_fraction,
)

NAN = math.nan


def test_task_reward_leaves_out_format_rewards():
    names = ["format", "accuracy", "my_format_check", "cider"]
    assert task_reward_columns(names) == [1, 3]
    rewards = torch.tensor([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 0.0, NAN], [1.0, NAN, 1.0, NAN]])
    total = task_reward(rewards, names, torch.tensor([1.0, 2.0, 1.0, 1.0]))
    assert total[:2].tolist() == [0.5, 2.0] and math.isnan(total[2].item())
    assert task_reward(rewards, ["format"] * 4, torch.ones(4)) is None


def test_zero_variance_counts_task_reward_over_own_rollouts_only():
    # two groups of 3; group 0: own rollouts tie (0, 0), the injected reference scores 1
    # group 1: own rollouts differ (0, 1), one unscorable row
    rewards = torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0, NAN])
    injected = torch.tensor([False, False, True, False, False, False])
    assert zero_variance_fraction(rewards, 3) == 0.0  # counting the reference hides the collapse
    assert zero_variance_fraction(rewards, 3, injected) == 0.5
    # a group left with one counted rollout is not counted at all
    assert zero_variance_fraction(torch.tensor([0.0, 1.0]), 2, torch.tensor([False, True])) is None
    with pytest.raises(ValueError, match="groups of 4"):
        zero_variance_fraction(torch.zeros(6), 4)


def test_format_variance_alone_is_still_a_collapse():
    names = ["format", "accuracy"]
    # every rollout wrong; formatting differs: TRL's total-reward view sees variance, the task view none
    rewards = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    total = rewards.sum(dim=1)
    assert zero_variance_fraction(total, 4) == 0.0
    assert zero_variance_fraction(task_reward(rewards, names, torch.ones(2)), 4) == 1.0


def test_answer_token_mask_marks_the_answer_content():
    pieces = [["<think>", " a", "</think>", "\n", "<answer>", " nod", "ule", "</answer>"], ["no", " tags"]]
    mask = answer_token_mask(pieces, 9)
    assert mask[0].tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0]
    assert mask[1].sum() == 0
    assert answer_char_span("x <answer> cut off") == (10, 18)
    assert answer_char_span("<answer>a</answer> <answer>b</answer>") == (27, 28)  # the last answer
