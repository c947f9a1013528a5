"""RCPA's curriculum maths: prefix schedules, familiarity rule, threshold, imitation loss, difficulty."""

from __future__ import annotations

import math

import pytest
import torch

from currvl.algorithms.rcpa import (
    SCHEDULES,
    Progress,
    RCPAConfig,
    difficulty_order,
    difficulty_weights,
    failed_groups,
    imitation_nll,
    imitation_weight,
    prefix_length,
    prefix_ratio,
    reward_threshold,
    step_progress,
)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_rho_falls_from_rho_max_to_exactly_zero(schedule):
    cfg = RCPAConfig(schedule=schedule, rho_max=0.6, levels=3)
    values = [prefix_ratio(step_progress(t, 30), cfg) for t in range(0, 40)]
    assert values[0] == pytest.approx(0.6)
    assert all(a >= b for a, b in zip(values, values[1:], strict=False)), values
    assert all(v == 0.0 for v in values[30:])
    assert all(v > 0.0 for v in values[:30])


def test_schedule_values_by_hand():
    assert prefix_ratio(0.5, RCPAConfig(schedule="linear", rho_max=0.5)) == pytest.approx(0.25)
    assert prefix_ratio(0.25, RCPAConfig(schedule="cosine", rho_max=0.5)) == pytest.approx(
        0.25 * (1 + math.cos(math.pi / 4))
    )
    # step: 4 plateaus of rho_max * (1, 3/4, 1/2, 1/4)
    cfg = RCPAConfig(schedule="step", rho_max=0.4, levels=4)
    assert [prefix_ratio(p, cfg) for p in (0.0, 0.24, 0.25, 0.6, 0.99)] == pytest.approx(
        [0.4, 0.4, 0.3, 0.2, 0.1]
    )


def test_step_progress_and_zero_length_curriculum():
    assert [step_progress(t, 4) for t in range(6)] == [0, 0.25, 0.5, 0.75, 1, 1]
    assert step_progress(0, 0) == 1.0  # S = 0: no pre-alignment at all
    assert prefix_ratio(step_progress(0, 0), RCPAConfig()) == 0.0


def test_prefix_length_is_ceil_of_rho_times_length_minus_offset():
    assert prefix_length(0.5, 7) == 4  # ceil(3.5)
    assert prefix_length(0.5, 8) == 4
    assert prefix_length(0.5, 7, offset=1) == 3
    assert prefix_length(0.01, 7) == 1
    assert prefix_length(0.0, 7) == 0
    assert prefix_length(1.0, 7) == 7
    assert prefix_length(0.1, 3, offset=5) == 0


def test_imitation_weight_follows_rho_and_threshold_rises():
    cfg = RCPAConfig(rho_max=0.5, imitation_weight=2.0, delta_min=0.2, delta_max=0.6)
    assert imitation_weight(0.5, cfg) == pytest.approx(2.0)
    assert imitation_weight(0.25, cfg) == pytest.approx(1.0)
    assert imitation_weight(0.0, cfg) == 0.0
    deltas = [reward_threshold(p / 10, cfg) for p in range(11)]
    assert deltas[0] == pytest.approx(0.2) and deltas[-1] == pytest.approx(0.6)
    assert all(a <= b for a, b in zip(deltas, deltas[1:], strict=False))


def test_imitation_loss_equals_hand_computed_nll():
    logps = torch.log(torch.tensor([[0.5, 0.25, 0.9], [0.1, 0.3, 0.7]]))
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    expected = -(math.log(0.5) + math.log(0.25) + math.log(0.1)) / 3
    assert imitation_nll(logps, mask).item() == pytest.approx(expected, rel=1e-6)
    assert imitation_nll(logps, torch.zeros_like(mask)).item() == 0.0


def test_familiarity_rule_lowers_rho_only_when_the_threshold_is_crossed():
    cfg = RCPAConfig(
        progress="familiarity", familiarity_threshold=0.5, familiarity_window=3, familiarity_increment=0.25
    )
    prog = Progress(cfg)
    rho0 = prefix_ratio(prog.at_step(0), cfg)
    # below the threshold for a long time: progress and rho never move
    for step, signal in enumerate([0.1, 0.4, 0.45, 0.49, 0.3, 0.2, 0.45], start=1):
        assert not prog.record(step, signal)
        assert prefix_ratio(prog.at_step(step), cfg) == rho0
    # window (0.45, 0.6, 0.6) -> mean 0.55 >= 0.5: one advance, then the window starts over
    assert not prog.record(8, 0.6)
    assert prog.record(9, 0.6)
    assert prog.value == 0.25 and prog.advances == [9]
    assert prefix_ratio(prog.at_step(10), cfg) < rho0
    assert not prog.record(10, 0.9) and not prog.record(11, 0.9)  # window not full yet
    assert prog.record(12, 0.9) and prog.value == 0.5
    assert not prog.record(13, None)  # a step without a signal changes nothing


def test_progress_state_round_trips():
    cfg = RCPAConfig(progress="familiarity", familiarity_window=3)
    prog = Progress(cfg)
    for step, s in enumerate([0.9, 0.9, 0.9, 0.2, 0.7], start=1):
        prog.record(step, s)
    clone = Progress(cfg)
    clone.load_state_dict(prog.state_dict())
    assert clone.state_dict() == prog.state_dict()
    assert clone.record(6, 0.9) == prog.record(6, 0.9)
    assert clone.value == prog.value


def test_difficulty_weights():
    rewards = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.5, float("nan")])
    G = 3  # groups: mastered-ish (d=1/3), hard (d=2/3 .. ), medium with one unscorable
    w = difficulty_weights(rewards, G, RCPAConfig(weighting="gaussian"))
    assert w.shape == rewards.shape and w.mean().item() == pytest.approx(1.0)
    assert torch.equal(w.view(-1, G), w.view(-1, G)[:, :1].expand(-1, G))  # one weight per group
    d = torch.tensor([1 - 2 / 3, 1 - 1 / 3, 0.5])
    raw = torch.exp(-((d - 0.5) ** 2) / (2 * 0.25**2))
    assert torch.allclose(w.view(-1, G)[:, 0], raw / raw.mean())
    linear = difficulty_weights(rewards, G, RCPAConfig(weighting="linear", weight_alpha=1.0))
    assert linear[3] > linear[0]  # harder group weighs more
    assert torch.equal(difficulty_weights(rewards, G, RCPAConfig(weighting="none")), torch.ones(9))


def test_difficulty_order_is_deterministic():
    d = [0.9, 0.1, 0.5, 0.1, 0.7, 0.3, 0.2, 0.8]
    assert difficulty_order(d, "easy_to_hard") == [1, 3, 6, 5, 2, 4, 7, 0]
    a = difficulty_order(d, "window", window=3, seed=0)
    assert a == difficulty_order(d, "window", window=3, seed=0)
    # each window holds the same samples as the sorted order's window, only shuffled inside it
    sorted_order = difficulty_order(d, "easy_to_hard")
    for i in range(0, len(d), 3):
        assert sorted(a[i : i + 3]) == sorted(sorted_order[i : i + 3])
    assert difficulty_order(d, "none") == list(range(len(d)))


def test_failed_groups_are_those_where_no_own_rollout_scores():
    nan = float("nan")
    # groups of 3: all zero | one scores | zero and unscorable | none scorable
    task = torch.tensor([0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0, nan, nan, nan, nan, nan])
    assert failed_groups(task, 3).tolist() == [True, False, True, False]
    # an injected reference row that scores does not rescue its group
    task = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    exclude = torch.tensor([False, True, False, False, False, True])
    assert failed_groups(task, 3, exclude).tolist() == [True, False]
    with pytest.raises(ValueError):
        failed_groups(task, 4)


@pytest.mark.parametrize(
    "bad",
    [
        {"schedule": "linearr"},
        {"rho_max": 1.5},
        {"delta_min": 0.5, "delta_max": 0.2},
        {"constraint": "x"},
        {"guidance": "sometimes"},
    ],
)
def test_bad_config_values_fail(bad):
    with pytest.raises(ValueError):
        RCPAConfig(**bad)
