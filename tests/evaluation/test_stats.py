"""Paired bootstrap, paired forgetting rows and the base->tuned KL on hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from currvl.evaluation.divergence import forward_kl, kl_summary, token_kl
from currvl.evaluation.forgetting import forgetting_report
from currvl.evaluation.stats import excludes, paired_bootstrap, paired_scores


def test_paired_bootstrap_matches_hand_computed_percentiles():
    before, after = [1.0, 0.0, 1.0], [0.0, 0.0, 1.0]
    indices = np.array([[0, 1, 2], [0, 0, 0], [2, 2, 2]])
    out = paired_bootstrap(before, after, indices=indices)
    # resample deltas: (1/3 - 2/3, 0 - 1, 1 - 1) = (-1/3, -1, 0); numpy's linear percentiles of 3 values
    assert out["delta"] == pytest.approx(-1 / 3)
    assert out["delta_ci95"] == pytest.approx([-1 + 0.05 * (2 / 3), -1 / 3 + 0.95 * (1 / 3)])
    # resample retentions: (1/3)/(2/3) = 0.5, 0/1 = 0, 1/1 = 1
    assert out["retention"] == pytest.approx(0.5)
    assert out["retention_ci95"] == pytest.approx([0.025, 0.975])


def test_retention_leaves_out_resamples_with_nothing_to_retain():
    out = paired_bootstrap([0.0, 1.0], [1.0, 1.0], indices=np.array([[0, 0], [1, 1]]))
    assert out["retention_ci95"] == pytest.approx([1.0, 1.0])  # only the second resample has a ratio
    assert paired_bootstrap([0.0], [1.0])["retention"] is None


def test_pairing_narrows_the_interval_and_is_reproducible():
    rng = np.random.default_rng(1)
    difficulty = rng.random(400)
    before = (difficulty < 0.7).astype(float)  # the tuned model loses exactly the items near the edge
    after = (difficulty < 0.6).astype(float)
    a = paired_bootstrap(before, after, seed=3)
    assert a == paired_bootstrap(before, after, seed=3)
    lo, hi = a["delta_ci95"]
    assert hi < 0  # a 0.1 drop on 400 paired items is seen; unpaired Wilson intervals overlap here
    assert hi - lo < 0.07


def test_paired_scores_match_by_id_and_refuse_disjoint_sets():
    b = [{"id": "x", "score": 1.0}, {"id": "y", "score": 0.0}]
    a = [{"id": "y", "score": 1.0}, {"id": "x", "score": 0.5}, {"id": "z", "score": 1.0}]
    assert paired_scores(b, a) == ([1.0, 0.0], [0.5, 1.0])
    with pytest.raises(ValueError, match="share no item"):
        paired_scores(b, [{"id": "q", "score": 1.0}])


def test_excludes():
    assert excludes([-0.2, -0.1], 0.0) is True and excludes([-0.1, 0.1], 0.0) is False
    assert excludes(None, 0.0) is None


def _result(scores: dict[str, list[float]]) -> dict:
    records = [
        {"id": f"{c}{i}", "category": c, "task": "text", "score": s}
        for c, values in scores.items()
        for i, s in enumerate(values)
    ]
    tasks = {c: {"score": sum(v) / len(v), "n": len(v), "ci95": [0.0, 1.0]} for c, v in scores.items()}
    n = len(records)
    return {
        "score": sum(r["score"] for r in records) / n,
        "n": n,
        "ci95": [0.0, 1.0],
        "tasks": tasks,
        "records": records,
    }


def test_forgetting_report_uses_paired_intervals_when_records_match():
    base = {"general": _result({"color": [1.0] * 50, "count": [1.0] * 50})}
    tuned = {"general": _result({"color": [1.0] * 50, "count": [1.0] * 10 + [0.0] * 40})}
    report = forgetting_report(
        base, tuned, kl={"kl_per_token": 0.25, "kl_per_sequence": 2.0, "sequences": 4, "tokens": 32}
    )
    count = report["general_categories"]["count"]
    assert count["n_paired"] == 50
    assert count["delta_ci95"][1] < 0 and count["significant"] is True
    assert report["general_categories"]["color"]["delta_ci95"] == [0.0, 0.0]
    assert report["general_categories"]["color"]["significant"] is False
    lo, hi = report["summary"]["retention_ci95"]
    assert report["summary"]["retention"] == pytest.approx(0.6)
    assert lo <= 0.6 <= hi < 1.0
    assert report["summary"]["kl_base_tuned"] == 0.25
    assert report["forgotten"] == ["count"]


def test_token_kl_matches_hand_computed_value():
    base = torch.tensor([[0.0, math.log(3.0)]])  # p = (1/4, 3/4)
    tuned = torch.tensor([[0.0, 0.0]])  # q = (1/2, 1/2)
    expected = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert token_kl(base, tuned).item() == pytest.approx(expected)
    assert token_kl(base, base).item() == pytest.approx(0.0, abs=1e-7)


def test_kl_summary_per_token_and_per_sequence():
    out = kl_summary([[0.1, 0.3], [0.2], []])
    assert out["kl_per_token"] == pytest.approx(0.2) and out["kl_per_sequence"] == pytest.approx(0.3)
    assert out["sequences"] == 2 and out["tokens"] == 3


def test_forward_kl_is_zero_for_the_same_model_and_positive_after_a_change(tiny_model_dir):
    from currvl.data.synthetic import make_samples
    from currvl.models import load_model

    samples = make_samples("general", "test", 4, seed=0)
    completions = [
        "<think> a </think> <answer> red </answer>",
        "<answer> 3 </answer>",
        "",
        "<answer> no </answer>",
    ]
    base, processor = load_model(str(tiny_model_dir))
    tuned, _ = load_model(str(tiny_model_dir))
    same = forward_kl(base, tuned, processor, samples, completions, batch_size=3, show_progress=False)
    assert same["sequences"] == 3 and same["kl_per_token"] == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        tuned.lm_head.weight.add_(0.5 * torch.randn_like(tuned.lm_head.weight))
    moved = forward_kl(base, tuned, processor, samples, completions, batch_size=3, show_progress=False)
    assert moved["kl_per_token"] > 1e-3 and moved["tokens"] == same["tokens"]
