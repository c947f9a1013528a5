"""Dynamic sampling's group filter: which groups carry a learning signal."""

from __future__ import annotations

import math

import pytest
import torch

from currvl.algorithms.dynamic_sampling import DynamicSamplingConfig, informative_groups, rows_of_groups


def test_groups_at_or_beyond_the_bounds_are_dropped():
    rewards = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0.5, 0.5, 0.5, 0.5])
    keep = informative_groups(rewards, 4, DynamicSamplingConfig())
    assert keep.tolist() == [False, False, True, True]  # all wrong, all right, mixed, graded tie inside
    narrow = informative_groups(rewards, 4, DynamicSamplingConfig(min=0.25, max=0.5))
    assert narrow.tolist() == [False, False, False, False]  # means 0, 1, 0.25, 0.5: all on or past a bound


def test_injected_and_unscorable_rows_do_not_count():
    nan = math.nan
    rewards = torch.tensor([0.0, 0.0, 0.0, 1.0, nan, nan, nan, nan, 1.0, nan, 0.0, 0.0])
    injected = torch.tensor([False, False, False, True] + [False] * 8)
    keep = informative_groups(rewards, 4, DynamicSamplingConfig(), exclude=injected)
    # group 0: the reference row is the only success, the policy's own rollouts all fail -> dropped
    # group 1: nothing scorable -> dropped; group 2: one success among three scorable -> kept
    assert keep.tolist() == [False, False, True]


def test_rows_of_groups_and_config_checks():
    assert rows_of_groups(torch.tensor([0, 2]), 3) == [0, 1, 2, 6, 7, 8]
    with pytest.raises(ValueError, match="below max"):
        DynamicSamplingConfig(min=1.0, max=1.0)
    with pytest.raises(ValueError, match="max_rounds"):
        DynamicSamplingConfig(max_rounds=-1)
    with pytest.raises(ValueError, match="groups of 4"):
        informative_groups(torch.zeros(6), 4, DynamicSamplingConfig())
