"""Retention at a matched domain score: read off each method's path by hand-checkable interpolation."""

import pytest

from currvl.evaluation.pareto import domain_gainers, general_at_domain, matched_domain_level, spread


def _path(*pairs):
    return [{"step": i, "domain": d, "general": g} for i, (d, g) in enumerate(pairs)]


def test_spread_keeps_the_last_and_spaces_evenly():
    assert spread(list(range(6)), 3) == [0, 2, 5]  # round(2.5) = 2
    assert spread([1, 2], 4) == [1, 2] and spread([1, 2, 3], 1) == [3] and spread([1, 2], 0) == []


def test_general_at_domain_interpolates_at_the_first_crossing():
    sft = _path((0.0, 1.0), (0.4, 0.6), (0.8, 0.2))
    assert general_at_domain(sft, 0.2) == pytest.approx(0.8)  # halfway from (0, 1.0) to (0.4, 0.6)
    assert general_at_domain(sft, 0.6) == pytest.approx(0.4)
    assert general_at_domain(sft, 0.9) is None  # never reached
    assert general_at_domain(_path((0.5, 0.9)), 0.3) == 0.9  # starts above the level
    wiggle = _path((0.0, 1.0), (0.3, 0.9), (0.1, 0.5), (0.3, 0.1))
    assert general_at_domain(wiggle, 0.3) == pytest.approx(0.9)  # the first time, not the last


def test_matched_level_is_the_best_score_every_gaining_run_reaches():
    paths = {
        "SFT": _path((0.0, 1.0), (0.8, 0.2)),
        "RCPA": _path((0.0, 1.0), (0.3, 0.95), (0.25, 0.96)),
        "GRPO": _path((0.0, 1.0), (0.02, 0.5)),  # does not gain the domain: left out
    }
    assert domain_gainers(paths, 0.0) == ["SFT", "RCPA"]
    assert matched_domain_level(paths, 0.0) == pytest.approx(0.3)
    assert general_at_domain(paths["SFT"], 0.3) == pytest.approx(0.7)  # SFT keeps less at RCPA's score
    assert matched_domain_level({"SFT": paths["SFT"], "GRPO": paths["GRPO"]}, 0.0) is None
