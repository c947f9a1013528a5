"""RCPA's difficulty order: scored by the start model, deterministic, cached for resume."""

import json

from currvl.algorithms.rcpa import RCPAConfig
from currvl.data.synthetic import make_samples
from currvl.models import load_model
from currvl.training.difficulty import order_by_difficulty


def test_difficulty_order_by_the_start_model_is_deterministic_and_cached(tiny_model_dir, tmp_path):
    model, processor = load_model(tiny_model_dir)
    samples = make_samples("scan", "train", 6, seed=0) + make_samples("general", "train", 2, seed=0)
    cfg = RCPAConfig(ordering="easy_to_hard")
    first = order_by_difficulty(model, processor, samples, cfg, tmp_path, seed=0)
    cached = json.loads((tmp_path / "difficulty.json").read_text())
    scores = dict(zip(cached["ids"], cached["reference_nll"], strict=True))
    assert [scores[s["id"]] for s in first] == sorted(scores[s["id"]] for s in first)
    again = order_by_difficulty(model, processor, samples, cfg, tmp_path, seed=0)
    assert [s["id"] for s in again] == [s["id"] for s in first]
