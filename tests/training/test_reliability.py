"""Reliability: interruption and resume, atomic checkpoints, failing rewards, non-finite losses."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import pickle
import signal
from types import SimpleNamespace

import pytest
import torch
from transformers import Trainer, TrainerCallback, TrainerControl
from transformers.trainer_utils import get_last_checkpoint

import currvl.training.grpo as grpo_module
from currvl.algorithms.grpo import group_advantages
from currvl.cli.main import main as cli_main
from currvl.data.synthetic import make_samples
from currvl.rewards import format_reward, get_reward_funcs
from currvl.rewards import guard as rf
from currvl.training.builders import build_trainer
from currvl.training.recipe import recipe_from_dict
from currvl.training.reliability import (
    MAX_NONFINITE_ENV,
    InterruptionCallback,
    NonFiniteLossError,
    TrainingInterrupted,
)
from currvl.training.run import train
from tests.training.test_run import _sft_recipe as sft_recipe
from tests.training.test_run import _weights

# ---------------------------------------------------------------------------------------------- helpers


def _sft_recipe(model_dir, out, max_steps=4, **trainer):
    return sft_recipe(model_dir, out, max_steps, **{"save_steps": 100, **trainer})


def _params(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


class SignalAt(TrainerCallback):
    """Sends `sig` to this process at the end of optimiser step `step` (as Ctrl-C or `kill` would)."""

    def __init__(self, step: int, sig: int = signal.SIGINT, where: str = ""):
        self.step, self.sig, self.where = step, sig, where

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step and self.where in args.output_dir:
            # never let a real KeyboardInterrupt end the whole test session
            assert signal.getsignal(self.sig) not in (signal.default_int_handler, signal.SIG_DFL)
            os.kill(os.getpid(), self.sig)
        return control


@pytest.fixture
def plain_sigint():
    """Python's usual SIGINT handler during the test, whatever the runner installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------------------------------ interruption


def test_first_signal_asks_to_stop_and_second_one_acts_as_usual(plain_sigint):
    previous_term = signal.getsignal(signal.SIGTERM)
    cb = InterruptionCallback()
    cb.install()
    os.kill(os.getpid(), signal.SIGTERM)  # trapped: no exit
    assert cb.interrupted and cb.received == "SIGTERM"
    # the first signal already put the previous handlers back: a second Ctrl-C interrupts at once
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == previous_term
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    control = cb.on_step_end(
        SimpleNamespace(output_dir="out", device="cpu"), SimpleNamespace(global_step=3), TrainerControl()
    )
    assert control.should_save and control.should_training_stop


def test_sigint_saves_a_checkpoint_and_resume_matches_the_straight_run(
    tiny_model_dir, tmp_path, plain_sigint
):
    straight = train(_sft_recipe(tiny_model_dir, tmp_path / "straight"))
    out = tmp_path / "stopped"
    with pytest.raises(TrainingInterrupted, match="--resume") as stop:
        train(_sft_recipe(tiny_model_dir, out), callbacks=[SignalAt(2)])
    assert stop.value.step == 2 and stop.value.checkpoint == str(out / "checkpoint-2")
    assert (out / "checkpoint-2" / "model.safetensors").exists()
    assert not (out / "final").exists() and not list(out.glob("tmp-*"))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    resumed = train(_sft_recipe(tiny_model_dir, out), resume=True)
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_cli_exits_130_with_a_resume_hint(tmp_path, monkeypatch, capsys):
    import currvl.training.run as run_module

    def interrupted(recipe, **kwargs):
        raise TrainingInterrupted(tmp_path, 7, str(tmp_path / "checkpoint-7"))

    monkeypatch.setattr(run_module, "train", interrupted)
    cfg = tmp_path / "r.yaml"
    cfg.write_text("method: sft\nmodel:\n  name_or_path: m\ndata:\n  train: d.jsonl\n")
    assert cli_main(["train", str(cfg)]) == 130
    err = capsys.readouterr().err
    assert "step 7" in err and "checkpoint-7" in err and "--resume" in err


def _curriculum_recipe(model_dir, out):
    rewards = ["format", "accuracy"]
    return recipe_from_dict(
        {
            "method": "grpo",
            "output_dir": str(out),
            "model": {"name_or_path": str(model_dir)},
            "data": {"train": {"synthetic": "scan", "n": 4, "seed": 0}},
            "trainer": {
                "per_device_train_batch_size": 4,
                "num_generations": 2,
                "max_completion_length": 6,
                "save_steps": 100,
                "report_to": "none",
            },
            "curriculum": [
                {"name": "judge", "format": "judge", "max_steps": 1, "rewards": rewards},
                {"name": "open", "format": "open", "max_steps": 1, "rewards": rewards},
            ],
        }
    )


def test_signal_at_a_stage_hand_off_finishes_the_stage_but_starts_no_other(
    tiny_model_dir, tmp_path, plain_sigint
):
    out = tmp_path / "curr"
    with pytest.raises(TrainingInterrupted, match="'judge' is complete"):
        train(_curriculum_recipe(tiny_model_dir, out), callbacks=[SignalAt(1, where="stage0")])
    assert (out / "stage0-judge" / "final" / "curriculum_state.json").exists()
    assert not (out / "stage1-open").exists()
    final = train(_curriculum_recipe(tiny_model_dir, out), resume=True)
    assert final == out / "stage1-open" / "final" and (final / "model.safetensors").exists()


# ------------------------------------------------------------------------------------ atomic checkpoints


def test_crash_mid_save_leaves_the_previous_checkpoint_last(tiny_model_dir, tmp_path, monkeypatch, caplog):
    out = tmp_path / "run"
    recipe = _sft_recipe(tiny_model_dir, out, save_steps=2, save_total_limit=1)
    real_save_rng = Trainer._save_rng_state

    def disk_full_at_step_4(self, output_dir):
        if self.state.global_step == 4:
            raise OSError("No space left on device")
        return real_save_rng(self, output_dir)

    monkeypatch.setattr(Trainer, "_save_rng_state", disk_full_at_step_4)
    with pytest.raises(OSError, match="No space"):
        train(recipe)
    # the weights of step 4 were written, but only into the staging folder
    assert (out / "tmp-checkpoint-4" / "checkpoint-4" / "model.safetensors").exists()
    assert get_last_checkpoint(str(out)) == str(out / "checkpoint-2")
    monkeypatch.setattr(Trainer, "_save_rng_state", real_save_rng)
    with caplog.at_level(logging.WARNING, logger="currvl.training.reliability"):
        final = train(recipe, resume=True)
    assert "incomplete checkpoint" in caplog.text and "tmp-checkpoint-4" in caplog.text
    assert (final / "model.safetensors").exists()
    # rotation (save_total_limit=1) still works on the renamed folders; nothing temporary is left
    assert sorted(p.name for p in out.iterdir() if "checkpoint" in p.name) == ["checkpoint-4"]
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4


# ------------------------------------------------------------------------------------------- rewards


def nan_reward(prompts, completions, **kwargs):
    """Breaks on the first sample of every batch."""
    return [math.nan if i == 0 else 1.0 for i in range(len(completions))]


def flaky_reward(prompts, completions, **kwargs):
    """A remote scorer that times out on the second optimiser step."""
    if kwargs["trainer_state"].global_step == 1:
        raise TimeoutError("scoring service did not answer")
    return [0.5] * len(completions)


def test_failing_rewards_neither_stop_grpo_nor_bias_the_baseline(
    tiny_model_dir, tmp_path, monkeypatch, caplog
):
    recipe = recipe_from_dict(
        {
            "method": "grpo",
            "output_dir": str(tmp_path / "grpo"),
            "model": {"name_or_path": str(tiny_model_dir)},
            "data": {"train": {"synthetic": "scan", "n": 4, "seed": 0}},
            "rewards": [
                "format",
                "tests.training.test_reliability:flaky_reward",
                "tests.training.test_reliability:nan_reward",
            ],
            "trainer": {
                "max_steps": 2,
                "per_device_train_batch_size": 4,
                "num_generations": 2,
                "max_completion_length": 6,
                "save_steps": 100,
                "report_to": "none",
            },
        }
    )
    trainer = build_trainer(recipe, tmp_path / "grpo", make_samples("scan", "train", n=4, seed=0))
    assert trainer.reward_func_names == ["format", "flaky_reward", "nan_reward"]

    # sample 0's NaN makes its whole row unscorable; its group partner and the other group keep their scores
    inputs = [{"prompt": [{"role": "user", "content": "q"}], "task": None} for _ in range(4)]
    completions = [[{"role": "assistant", "content": "<think>a</think><answer>b</answer>"}]] * 4
    with caplog.at_level(logging.WARNING):
        scores = trainer._calculate_rewards(inputs, ["q"] * 4, completions, [[1]] * 4)
        assert torch.isnan(scores[0]).all() and torch.isfinite(scores[1:]).all()
        # a failed call in every group: those groups are scored without that reward, consistently
        trainer.state.global_step = 1
        scores = trainer._calculate_rewards(inputs, ["q"] * 4, completions, [[1]] * 4)
        trainer.state.global_step = 0
    assert torch.isnan(scores[1:, 1]).all() and torch.isfinite(scores[1:, [0, 2]]).all()
    assert "'nan_reward' returned nan for sample 0" in caplog.text
    assert "'flaky_reward' raised on a batch of 4 samples (TimeoutError" in caplog.text

    seen_advantages = []
    real_loss = grpo_module.grpo_loss

    def spy(per_token_logps, advantages, *args, **kwargs):
        seen_advantages.append(advantages.detach().clone())
        return real_loss(per_token_logps, advantages, *args, **kwargs)

    monkeypatch.setattr(grpo_module, "grpo_loss", spy)
    trainer.train()  # step 2's flaky_reward raises, every step has a NaN sample: the run goes on
    assert trainer.state.global_step == 2 and seen_advantages
    assert all(torch.isfinite(a).all() for a in seen_advantages)
    steps = [h for h in trainer.state.log_history if "reward" in h]
    assert len(steps) == 2 and all(math.isfinite(h["reward"]) for h in steps)
    assert all(math.isfinite(h["loss"]) for h in steps)


def test_guarded_reward_keeps_name_options_and_pickles():
    fmt, acc = get_reward_funcs(["format", "accuracy"], choice_partial_credit=0.5)
    assert fmt.__name__ == "format" and acc.__name__ == "accuracy" and acc.choice_partial_credit == 0.5
    clone = pickle.loads(pickle.dumps(acc))
    assert clone.__name__ == "accuracy" and clone.choice_partial_credit == 0.5
    assert rf.guard_reward(fmt) is fmt  # no double wrapping
    # None on purpose ("rule does not apply") is not a failure
    assert get_reward_funcs(["yes_no"])[0](
        prompts=[None], completions=["<answer>x</answer>"], answer=["A"]
    ) == [None]


def test_a_reward_failing_on_everything_stops_after_a_few_calls():
    def broken(prompts, completions, **kwargs):
        raise KeyError("answer")

    guarded = rf.guard_reward(broken)
    for _ in range(rf.MAX_CONSECUTIVE_FAILED_CALLS - 1):
        assert guarded(prompts=[None] * 2, completions=["a", "b"]) == [None, None]
        assert guarded.failed_indices == [0, 1]
    with pytest.raises(RuntimeError, match="'broken' failed on every sample"):
        guarded(prompts=[None] * 2, completions=["a", "b"])


def test_async_reward_is_guarded_as_async():
    async def scorer(prompts, completions, **kwargs):
        return [float("inf"), 1.0]

    guarded = rf.guard_reward(scorer)
    assert asyncio.iscoroutinefunction(type(guarded).__call__)
    assert asyncio.run(guarded(prompts=[None] * 2, completions=["a", "b"])) == [None, 1.0]
    assert guarded.failed_indices == [0]


def test_truncated_completion_scores_zero_format_and_does_not_crash():
    truncated = "<think>the left lung shows</think> <answer>opac"  # cut by max_completion_length
    assert format_reward([None], [truncated]) == [0.0]
    fmt, acc = get_reward_funcs(["format", "accuracy"])
    assert fmt(prompts=[None], completions=[truncated], task=["text"]) == [0.0]
    # an unclosed answer is read as far as it goes: "opac" is not "opacity" ...
    assert acc(prompts=[None], completions=[truncated], answer=["opacity"], task=["text"]) == [0.0]
    # ... and a truncated answer that is complete still pays accuracy, while format pays 0
    assert acc(prompts=[None], completions=[truncated], answer=["opac"], task=["text"]) == [1.0]
    assert acc.failed_indices == []


def test_group_advantages_leave_unscorable_samples_out():
    rewards = torch.tensor([1.0, float("nan"), 0.0, 0.0, float("nan"), float("nan")])
    adv, _ = group_advantages(rewards, num_generations=3)
    assert torch.isfinite(adv).all() and adv[1] == 0.0 and adv[4] == 0.0 and adv[5] == 0.0
    assert adv[0] > 0 > adv[2]  # baseline is the mean of the two scorable samples, 0.5


# ------------------------------------------------------------------------------------- non-finite loss


def _nan_loss_at(trainer, bad_steps):
    """Make the loss NaN while computing the given optimiser steps (1-based)."""
    real = trainer.compute_loss

    def compute_loss(model, inputs, *args, **kwargs):
        loss = real(model, inputs, *args, **kwargs)
        return loss * float("nan") if trainer.state.global_step + 1 in bad_steps else loss

    trainer.compute_loss = compute_loss


class Snapshots(TrainerCallback):
    def __init__(self):
        self.after: dict[int, dict[str, torch.Tensor]] = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.after[state.global_step] = _params(model)
        return control


def test_nonfinite_loss_skips_the_update_and_k_in_a_row_stop(tiny_model_dir, tmp_path, monkeypatch, caplog):
    samples = make_samples("general", "train", n=16, seed=0)
    snaps = Snapshots()
    trainer = build_trainer(
        _sft_recipe(tiny_model_dir, tmp_path / "a", max_steps=3), tmp_path / "a", samples, [snaps]
    )
    _nan_loss_at(trainer, {2})
    with caplog.at_level(logging.WARNING, logger="currvl.training.reliability"):
        trainer.train()
    assert "step 2: loss is nan; skipping this update" in caplog.text
    for k, v in snaps.after[1].items():
        assert torch.equal(v, snaps.after[2][k]), k  # step 2 changed nothing
    assert any(not torch.equal(v, snaps.after[3][k]) for k, v in snaps.after[2].items())  # step 3 trained

    monkeypatch.setenv(MAX_NONFINITE_ENV, "2")
    trainer = build_trainer(_sft_recipe(tiny_model_dir, tmp_path / "b", max_steps=3), tmp_path / "b", samples)
    _nan_loss_at(trainer, {1, 2, 3})
    with pytest.raises(NonFiniteLossError, match="non-finite .* for 2 optimiser steps in a row"):
        trainer.train()
    assert trainer.state.global_step == 1  # stopped while computing step 2
