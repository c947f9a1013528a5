"""Rejection sampling: the filter keeps exactly what it should; the pipeline writes an inspectable set."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from currvl.algorithms.self_improve import (
    SelfImproveConfig,
    as_sft_sample,
    rule_score,
    select,
    self_improvement_set,
    write_kept,
)
from currvl.data.io import read_jsonl
from currvl.data.prompts import target_text
from currvl.data.schema import make_sample
from currvl.models import load_model


def test_select_keeps_exactly_the_answers_at_or_above_threshold():
    scores = [[90.0, 85.0, 84.9, 100.0], [10.0, 84.0, 0.0, 50.0], [85.0, 85.0, 20.0, 99.0]]
    assert select(scores, 85.0, keep="all") == [
        (0, 3, 100.0),
        (0, 0, 90.0),
        (0, 1, 85.0),
        (2, 3, 99.0),
        (2, 0, 85.0),
        (2, 1, 85.0),
    ]
    assert select(scores, 85.0, keep="best") == [(0, 3, 100.0), (2, 3, 99.0)]
    assert select(scores, 100.0) == [(0, 3, 100.0)]


def test_rule_score():
    s = make_sample("What is 3 + 4?", "7", "math")
    assert rule_score(s, "<think>3 plus 4</think>\n<answer>7</answer>") == 100.0
    assert rule_score(s, "<think>x</think><answer>5</answer>") == 0.0
    assert rule_score(s, "the answer is <answer>7</answer>") == 0.0  # right answer, broken format
    assert rule_score(make_sample("Describe it.", "", "text"), "<think></think><answer>x</answer>") is None


def test_kept_answer_becomes_the_sft_target():
    s = make_sample("What is 3 + 4?", "7", "math", id="q")
    kept = as_sft_sample(s, "<think>3 plus 4 is 7</think>\n<answer>7.0</answer>", 100.0, 2)
    assert target_text(kept) == "<think>3 plus 4 is 7</think>\n<answer>7.0</answer>"
    assert kept["id"] == "q-kept2" and kept["score"] == 100.0


def test_pipeline_with_a_pluggable_judge_writes_jsonl(tiny_model_dir, tmp_path):
    model, processor = load_model(tiny_model_dir)
    image = Image.new("RGB", (56, 56), "red")
    open_ended = [make_sample("Describe the image.", "", "text", image=image, id=f"d{i}") for i in range(3)]
    calls = []

    def judge(sample, completion):
        calls.append(sample["id"])
        return 90.0 if sample["id"] != "d1" else 40.0

    cfg = SelfImproveConfig(num_samples=2, max_new_tokens=4, threshold=85.0)
    torch.manual_seed(0)  # sampled completions: fixed, so none of them is empty by chance
    kept, stats = self_improvement_set(model, processor, open_ended, cfg, judge=judge)
    assert len(calls) == 6 and stats["answers"] == 6 and stats["judged_by_model"] == 6
    # best per query (the first of equal scores), d1 below threshold
    assert [k["id"] for k in kept] == ["d0-kept0", "d2-kept0"]
    assert stats["kept"] == 2 and stats["queries_with_a_kept_answer"] == 2
    assert all(k["answer"].strip() for k in kept)
    path = write_kept(kept, tmp_path / "kept.jsonl")
    assert [r["id"] for r in read_jsonl(path)] == ["d0-kept0", "d2-kept0"]


def test_no_reference_and_no_judge_is_an_error(tiny_model_dir):
    model, processor = load_model(tiny_model_dir)
    with pytest.raises(ValueError, match="no judge"):
        self_improvement_set(
            model,
            processor,
            [make_sample("Describe.", "", "text")],
            SelfImproveConfig(num_samples=1, max_new_tokens=2),
        )
