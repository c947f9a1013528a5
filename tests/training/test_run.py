"""SFT answer-only loss mask, recipe-driven runs, output protection and checkpoint resume."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from currvl.data.prompts import target_text
from currvl.data.synthetic import make_samples
from currvl.models import load_model
from currvl.training.datasets import to_sft_dataset
from currvl.training.recipe import recipe_from_dict
from currvl.training.run import OutputDirExistsError, train


def test_sft_loss_covers_exactly_the_answer(tiny_model_dir):
    _, processor = load_model(tiny_model_dir)
    samples = make_samples("general", "train", n=5, seed=0)  # includes a text-only arithmetic item
    assert any(s["image"] is None for s in samples) and any(s["image"] is not None for s in samples)
    ds = to_sft_dataset(samples)
    collator = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    batch = collator([ds[i] for i in range(len(ds))])
    tok = processor.tokenizer
    for i, s in enumerate(samples):
        labels = batch["labels"][i]
        kept = batch["input_ids"][i][labels != -100]
        assert tok.decode(kept).strip() == target_text(s) + "<|im_end|>"
        # nothing of the prompt (image tokens, question, format instruction) carries loss
        image_id = tok.convert_tokens_to_ids("<|image_pad|>")
        assert not (kept == image_id).any()


def _sft_recipe(model_dir, out, max_steps=4, **trainer):
    return recipe_from_dict(
        {
            "method": "sft",
            "output_dir": str(out),
            "model": {"name_or_path": str(model_dir)},
            "data": {"train": {"synthetic": "general", "n": 32, "seed": 0}},
            "trainer": {
                "max_steps": max_steps,
                "per_device_train_batch_size": 4,
                "learning_rate": 1e-3,
                "lr_scheduler_type": "constant",
                "save_steps": 2,
                "report_to": "none",
                **trainer,
            },
        }
    )


def _weights(final_dir):
    return load_file(str(final_dir / "model.safetensors"))


class CrashAfterSave(TrainerCallback):
    """Simulates a crash (e.g. a killed job) right after the checkpoint at `step` was written."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_resume_after_a_crash_reproduces_the_uninterrupted_run(tiny_model_dir, tmp_path):
    straight = train(_sft_recipe(tiny_model_dir, tmp_path / "straight"))
    crashed = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        train(_sft_recipe(tiny_model_dir, crashed), callbacks=[CrashAfterSave(2)])
    assert (crashed / "checkpoint-2").exists() and not (crashed / "final").exists()
    with pytest.raises(OutputDirExistsError):  # a plain re-run must not clobber the crashed run
        train(_sft_recipe(tiny_model_dir, crashed))
    resumed = train(_sft_recipe(tiny_model_dir, crashed), resume=True)
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    losses = lambda d: [h["loss"] for h in json.loads((d / "log_history.json").read_text()) if "loss" in h]  # noqa: E731
    assert losses(tmp_path / "straight")[2:] == pytest.approx(losses(crashed)[-2:], abs=1e-5)


def test_overwrite_replaces_and_grpo_recipe_runs(tiny_model_dir, tmp_path):
    out = tmp_path / "grpo"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    recipe = recipe_from_dict(
        {
            "method": "grpo",
            "output_dir": str(out),
            "model": {"name_or_path": str(tiny_model_dir)},
            "data": {"train": {"synthetic": "scan", "n": 4, "seed": 0}},
            "rewards": ["format", "accuracy"],
            "trainer": {
                "max_steps": 1,
                "per_device_train_batch_size": 4,
                "num_generations": 2,
                "max_completion_length": 6,
                "report_to": "none",
            },
        }
    )
    with pytest.raises(OutputDirExistsError):
        train(recipe)
    assert (out / "precious.txt").read_text() == "keep me"
    final = train(recipe, overwrite=True)
    assert (final / "model.safetensors").exists() and (final / "processor_config.json").exists()
    history = json.loads((out / "log_history.json").read_text())
    assert any("rewards/accuracy/mean" in h and "rewards/format/mean" in h for h in history)
    # the reference log-likelihood on the fixed probe: a random model spreads mass over ~600 tokens
    logprob = next(h["signal/reference_logprob"] for h in history if "signal/reference_logprob" in h)
    assert -8.0 < logprob < -3.0
    assert (out / "training_curves.png").exists()
    load_model(final)  # the trained folder loads like any checkpoint


def test_a_users_files_mix_with_pictures_drawn_in_memory(tmp_path):
    """A user's JSONL (image paths) plus synthetic replay (PIL images) in one dataset, SFT and GRPO:
    datasets refused to mix the two kinds in one column ("cannot mix struct and non-struct")."""
    import numpy as np

    from currvl.data.io import open_image
    from currvl.data.sources import load_source
    from currvl.data.synthetic import write_synthetic
    from currvl.training.datasets import to_grpo_dataset

    write_synthetic(tmp_path / "mine", "signs", n_train=3, n_test=1)
    samples = load_source([str(tmp_path / "mine"), {"synthetic": "general", "n": 3}])
    assert {type(s["image"]).__name__ for s in samples} >= {"str", "Image"}
    sft = to_sft_dataset(samples)
    grpo = to_grpo_dataset(samples)
    for i, s in enumerate(samples):
        if s["image"] is None:
            assert sft[i]["images"] == [] and grpo[i]["image"] is None
            continue
        expected = np.asarray(open_image(s["image"]))
        assert np.array_equal(np.asarray(sft[i]["images"][0].convert("RGB")), expected)
        assert np.array_equal(np.asarray(grpo[i]["image"].convert("RGB")), expected)


def test_resume_of_a_finished_run_refuses_a_changed_recipe(tiny_model_dir, tmp_path):
    """A finished run once took `--resume --set trainer.max_steps=5` silently: it returned its 3-step
    model and rewrote recipe.yaml to say 5. Now that is refused, naming the key, and recipe.yaml stays;
    the same recipe returns the final model; --resume with --overwrite is refused too. (An unfinished
    run continues under a changed budget: tests/training/test_multiprocess.py resumes with a new one.)"""
    import yaml

    from currvl.training.recipe import RecipeError
    from currvl.training.run import DONE_FILE

    out = tmp_path / "run"
    final = train(_sft_recipe(tiny_model_dir, out, max_steps=2))
    assert json.loads((out / DONE_FILE).read_text())["final"] == str(final)
    with pytest.raises(RecipeError, match=r"has finished.*\(trainer.max_steps: 2 -> 5\)"):
        train(_sft_recipe(tiny_model_dir, out, max_steps=5), resume=True)
    assert yaml.safe_load((out / "recipe.yaml").read_text())["trainer"]["max_steps"] == 2
    assert train(_sft_recipe(tiny_model_dir, out, max_steps=2), resume=True) == final
    with pytest.raises(RecipeError, match="pass one"):
        train(_sft_recipe(tiny_model_dir, out, max_steps=2), resume=True, overwrite=True)


def test_a_run_that_fails_before_training_leaves_no_folder_to_overwrite(tmp_path):
    """A model folder that does not load (here: empty) fails the run; the output folder it had claimed
    is removed, so the corrected command needs no --overwrite. A missing one fails before any folder."""
    not_a_model = tmp_path / "empty_model"
    not_a_model.mkdir()
    out = tmp_path / "runs" / "sft"
    with pytest.raises(ValueError, match="Unrecognized model"):  # transformers' own words
        train(_sft_recipe(not_a_model, out))
    assert not out.exists()
    with pytest.raises(FileNotFoundError, match="no model folder"):
        train(_sft_recipe(tmp_path / "runs" / "no-such-model", out))
    assert not out.exists()
