"""The private TRL methods currvl's trainers rely on exist in the installed TRL as our code uses them."""

from __future__ import annotations

import inspect

import pytest
from trl import GRPOTrainer, SFTTrainer

from currvl.training import trl_hooks
from currvl.training.grpo import CurrvlGRPOTrainer
from currvl.training.rcpa import CurrvlRCPATrainer
from currvl.training.sft import CurrvlSFTTrainer
from currvl.training.trl_hooks import GRPO_HOOKS, TRAINER_HOOKS, TRLHookError, check_trl_hooks

ALL_HOOKS = {**GRPO_HOOKS, **TRAINER_HOOKS}


def _params(method) -> tuple[str, ...]:
    return tuple(p for p in inspect.signature(method).parameters if p != "self")


@pytest.mark.parametrize("name", sorted(ALL_HOOKS))
def test_installed_grpo_trainer_has_the_hook(name):
    assert callable(getattr(GRPOTrainer, name, None)), f"GRPOTrainer.{name} is gone"
    assert _params(getattr(GRPOTrainer, name)) == ALL_HOOKS[name]


@pytest.mark.parametrize("name", sorted(TRAINER_HOOKS))
def test_installed_sft_trainer_has_the_checkpoint_hook(name):
    assert _params(getattr(SFTTrainer, name)) == TRAINER_HOOKS[name]


def test_the_installed_trl_passes_the_check():
    check_trl_hooks()
    check_trl_hooks(SFTTrainer, TRAINER_HOOKS)


@pytest.mark.parametrize("cls", [CurrvlGRPOTrainer, CurrvlRCPATrainer, CurrvlSFTTrainer])
def test_our_overrides_keep_the_hook_parameters(cls):
    """Every override in currvl (trainers and mixins) takes what TRL passes it."""
    overridden = 0
    for klass in cls.__mro__:
        if not klass.__module__.startswith("currvl."):
            continue
        for name in ALL_HOOKS.keys() & vars(klass).keys():
            assert _params(vars(klass)[name]) == ALL_HOOKS[name], f"{klass.__name__}.{name}"
            overridden += 1
    assert overridden > 0


def test_a_changed_signature_fails_loudly():
    class NewTRL(GRPOTrainer):
        def _compute_loss(self, model, inputs, num_items_in_batch):  # a parameter TRL might add
            raise NotImplementedError

    with pytest.raises(
        TRLHookError, match=r"NewTRL\._compute_loss changed \(trl \d+\.\d+.*num_items_in_batch"
    ):
        check_trl_hooks(NewTRL)


def test_a_missing_hook_fails_loudly():
    class NewTRL(GRPOTrainer):
        _generate_single_turn = None  # renamed away

    with pytest.raises(TRLHookError, match=r"NewTRL\._generate_single_turn is missing \(trl "):
        check_trl_hooks(NewTRL)


def test_a_trainer_is_not_built_against_a_changed_trl(monkeypatch):
    """The check runs first when a currvl trainer is built (before any model is loaded)."""
    monkeypatch.setitem(trl_hooks.GRPO_HOOKS, "_compute_loss", ("model", "inputs", "return_outputs"))
    with pytest.raises(TRLHookError, match="_compute_loss changed"):
        CurrvlGRPOTrainer(model="unused")
    monkeypatch.setitem(trl_hooks.TRAINER_HOOKS, "_save_checkpoint", ("model",))
    with pytest.raises(TRLHookError, match=r"SFTTrainer\._save_checkpoint changed"):
        CurrvlSFTTrainer(model="unused")
