"""Curr-ReFT in one `train` call: curriculum RL, then rejection-sampling self-improvement, resumable."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from currvl.training.recipe import RecipeError, recipe_from_dict
from currvl.training.run import train


def _recipe(model_dir, out, threshold=0.0, **si_overrides):
    return recipe_from_dict(
        {
            "method": "grpo",
            "output_dir": str(out),
            "seed": 0,
            "model": {"name_or_path": str(model_dir)},
            "data": {"train": {"synthetic": "scan", "n": 4, "seed": 0}},
            "trainer": {
                "per_device_train_batch_size": 4,
                "num_generations": 2,
                "max_completion_length": 6,
                "learning_rate": 0.01,
                "save_steps": 1,
                "report_to": "none",
            },
            "curriculum": [{"name": "judge", "format": "judge", "max_steps": 1}],
            "self_improve": {
                "data": [{"synthetic": "general", "n": 3, "seed": 1}, "synthetic:general:1"],
                "num_samples": 2,
                "max_new_tokens": 8,
                "threshold": threshold,
                "trainer": {
                    "learning_rate": 1e-3,
                    "max_steps": 2,
                    "per_device_train_batch_size": 2,
                    "save_steps": 1,
                    "report_to": "none",
                },
                **si_overrides,
            },
        }
    )


class CrashInSelfImprove(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if "self-improve" in args.output_dir and state.global_step == 1:
            raise KeyboardInterrupt


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_curriculum_then_self_improvement_in_one_run(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    final = train(_recipe(tiny_model_dir, out))
    assert final == out / "self-improve" / "sft" / "final"
    stats = json.loads((out / "self-improve" / "stats.json").read_text())
    # threshold 0 and the best answer per query: every one of the 4 queries keeps exactly one answer
    assert stats["queries"] == 4 and stats["answers"] == 8 and stats["kept"] == 4
    kept = (out / "self-improve" / "kept.jsonl").read_text().splitlines()
    assert len(kept) == 4 and all("score" in json.loads(row) for row in kept)
    rl, tuned = _weights(out / "stage0-judge" / "final"), _weights(final)
    assert any(not torch.equal(rl[k], tuned[k]) for k in rl), "the SFT on the kept set changed nothing"
    history = json.loads((out / "self-improve" / "sft" / "log_history.json").read_text())
    assert any(h.get("learning_rate") for h in history)


def test_crash_during_self_improvement_resumes_without_resampling(tiny_model_dir, tmp_path):
    straight = train(_recipe(tiny_model_dir, tmp_path / "straight"))
    out = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        train(_recipe(tiny_model_dir, out), callbacks=[CrashInSelfImprove()])
    assert (out / "self-improve" / "sft" / "checkpoint-1").is_dir()
    kept_before = (out / "self-improve" / "kept.jsonl").read_text()
    stats_mtime = (out / "self-improve" / "stats.json").stat().st_mtime_ns
    final = train(_recipe(tiny_model_dir, out), resume=True)
    assert (out / "self-improve" / "stats.json").stat().st_mtime_ns == stats_mtime
    assert (out / "self-improve" / "kept.jsonl").read_text() == kept_before
    a, b = _weights(straight), _weights(final)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)
    # a finished run resumed again does nothing and returns the same model
    assert train(_recipe(tiny_model_dir, out), resume=True) == final


def test_nothing_kept_leaves_the_rl_model_final(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    # 100 of 100 needs a correct, well-formed answer, which the random tiny model never writes
    final = train(_recipe(tiny_model_dir, out, threshold=100.0))
    assert final == out / "stage0-judge" / "final"
    assert json.loads((out / "self-improve" / "stats.json").read_text())["kept"] == 0
    assert not (out / "self-improve" / "sft").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"keep": "worst"}, "self_improve.keep: must be 'best' or 'all'"),
        ({"threshold": 850}, "self_improve.threshold: is on a 0-100 scale"),
        ({"trainer": {"learning_rat": 1e-7}}, "did you mean 'self_improve.trainer.learning_rate'"),
        ({"temprature": 1.0}, "did you mean 'self_improve.temperature'"),
        (
            {"trainer": {"lr_scheduler_type": "cosin"}},
            "self_improve.trainer.lr_scheduler_type: 'cosin' is not",
        ),
        ({"temperature": 0}, "temperature: must be > 0"),
        ({"max_new_tokens": 0}, "max_new_tokens: must be >= 1, got 0"),
        ({"batch_size": 0}, "batch_size: must be >= 1, got 0"),
        ({"num_samples": 0}, "num_samples: must be >= 1, got 0"),
    ],
)
def test_bad_self_improve_settings_fail_before_training(tiny_model_dir, tmp_path, override, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(")):
        _recipe(tiny_model_dir, tmp_path / "run", **override)


def test_a_whole_number_temperature_is_read_as_the_float_the_sampler_takes(tiny_model_dir, tmp_path):
    recipe = _recipe(tiny_model_dir, tmp_path / "run", temperature=2)
    assert recipe.self_improve.temperature == 2.0 and isinstance(recipe.self_improve.temperature, float)


def test_a_sampling_pass_cut_short_is_redone_on_resume(tiny_model_dir, tmp_path, monkeypatch):
    import currvl.algorithms.self_improve as si

    out = tmp_path / "run"
    real = si.self_improvement_set

    def dies_half_way(*args, **kwargs):
        (out / "self-improve" / "kept.jsonl").write_text('{"id": "half-writ')  # what a kill leaves
        raise KeyboardInterrupt

    monkeypatch.setattr(si, "self_improvement_set", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        train(_recipe(tiny_model_dir, out))
    assert not (out / "self-improve" / "stats.json").exists()
    monkeypatch.setattr(si, "self_improvement_set", real)
    final = train(_recipe(tiny_model_dir, out), resume=True)
    assert final == out / "self-improve" / "sft" / "final"
    assert json.loads((out / "self-improve" / "stats.json").read_text())["kept"] == 4
    assert len((out / "self-improve" / "kept.jsonl").read_text().splitlines()) == 4
