"""The typed trainer configs: TRL-style fields, nested options built from dicts, recipes mapped onto them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from transformers import HfArgumentParser
from trl import GRPOConfig

from currvl.algorithms.dynamic_sampling import DynamicSamplingConfig
from currvl.algorithms.rcpa import RCPAConfig
from currvl.data.synthetic import make_samples
from currvl.training.builders import build_trainer, rl_trainer_config
from currvl.training.grpo import CurrvlGRPOTrainer
from currvl.training.rcpa import CurrvlRCPATrainer
from currvl.training.recipe import RecipeError, default_trainer_args, load_recipe, recipe_from_dict
from currvl.training.trainer_configs import CurrvlGRPOConfig, CurrvlRCPAConfig

CPU = {"use_cpu": True, "bf16": False, "report_to": "none"}
RECIPES = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))


def _cfg(cls=CurrvlGRPOConfig, tmp_path: Path | str = "unused", **kwargs):
    return cls(output_dir=str(tmp_path), **CPU, **kwargs)


def test_every_new_field_has_help():
    base = {f.name for f in dataclasses.fields(GRPOConfig)}
    new = [f for f in dataclasses.fields(CurrvlRCPAConfig) if f.name not in base]
    assert {f.name for f in new} == {"share_vision_encoding", "dynamic_sampling", "rcpa"}
    for f in new:
        assert len(f.metadata.get("help", "")) > 20, f.name


def test_nested_options_become_their_dataclasses():
    cfg = _cfg(CurrvlRCPAConfig, dynamic_sampling={"max_rounds": 2}, rcpa={"steps": 7, "rho_max": 0.25})
    assert cfg.dynamic_sampling == DynamicSamplingConfig(max_rounds=2)
    assert cfg.rcpa == RCPAConfig(steps=7, rho_max=0.25)
    cfg = _cfg(CurrvlRCPAConfig, dynamic_sampling='{"min": 0.1}', rcpa='{"constraint": "reference_member"}')
    assert cfg.dynamic_sampling.min == 0.1 and cfg.rcpa.constraint == "reference_member"
    given = RCPAConfig(steps=3)
    assert _cfg(CurrvlRCPAConfig, rcpa=given).rcpa is given
    defaults = _cfg(CurrvlRCPAConfig)
    assert (
        defaults.rcpa == RCPAConfig() and defaults.dynamic_sampling is None and defaults.share_vision_encoding
    )


def test_nested_options_are_checked():
    with pytest.raises(ValueError, match="below max"):
        _cfg(dynamic_sampling={"min": 1.0, "max": 0.5})
    with pytest.raises(ValueError, match="schedule: must be one of"):
        _cfg(CurrvlRCPAConfig, rcpa={"schedule": "cosin"})
    with pytest.raises(TypeError, match="rcpa: expected a RCPAConfig"):
        _cfg(CurrvlRCPAConfig, rcpa=5)


def test_configs_serialise_and_parse_like_trl_configs():
    cfg = _cfg(CurrvlRCPAConfig, dynamic_sampling={"max_rounds": 2}, rcpa={"steps": 7})
    as_json = json.loads(cfg.to_json_string())  # what TensorBoard and W&B record
    assert as_json["rcpa"]["steps"] == 7 and as_json["dynamic_sampling"]["max_rounds"] == 2
    (parsed,) = HfArgumentParser(CurrvlRCPAConfig).parse_args_into_dataclasses(
        ["--output_dir", "x", "--use_cpu", "--bf16", "false", "--no_share_vision_encoding"]
        + ["--dynamic_sampling", '{"max_rounds": 2}', "--rcpa", '{"steps": 7}']
    )
    assert (
        parsed.dynamic_sampling.max_rounds == 2
        and parsed.rcpa.steps == 7
        and not parsed.share_vision_encoding
    )


def test_trainers_refuse_a_config_without_their_fields():
    with pytest.raises(TypeError, match="pass a CurrvlRCPAConfig .* got GRPOConfig"):
        CurrvlRCPATrainer(model="unused", args=GRPOConfig(output_dir="unused", **CPU))
    with pytest.raises(TypeError, match="pass a CurrvlRCPAConfig .* got CurrvlGRPOConfig"):
        CurrvlRCPATrainer(model="unused", args=_cfg())
    with pytest.raises(TypeError, match="pass a CurrvlGRPOConfig"):
        CurrvlGRPOTrainer(model="unused", args=GRPOConfig(output_dir="unused", **CPU))
    # the options were trainer arguments once: say where they live now
    with pytest.raises(
        TypeError, match=r"dynamic_sampling: fields of the trainer config.*CurrvlGRPOConfig\("
    ):
        CurrvlGRPOTrainer(model="unused", args=_cfg(), dynamic_sampling=DynamicSamplingConfig())
    with pytest.raises(TypeError, match=r"rcpa: fields of the trainer config.*CurrvlRCPAConfig\("):
        CurrvlRCPATrainer(model="unused", rcpa=RCPAConfig())


RL_RECIPES = [p for p in RECIPES if "compare" not in p.name and load_recipe(p).method != "sft"]


def test_the_shipped_rl_recipes_are_all_there():
    names = {p.name for p in RL_RECIPES}
    assert {"demo_grpo.yaml", "currreft_demo.yaml", "rcpa_demo.yaml", "rcpa_qwen2.5vl_7b.yaml"} <= names


@pytest.mark.parametrize("path", RL_RECIPES, ids=lambda p: p.name)
def test_shipped_rl_recipes_build_their_typed_config(path, tmp_path):
    recipe = load_recipe(path)
    targs = {**default_trainer_args(recipe.method, on_gpu=False), **recipe.trainer}
    targs.update(output_dir=str(tmp_path), seed=recipe.seed, bf16=False, use_cpu=True)
    targs.pop("deepspeed", None)  # checked by accelerate, not here
    cfg = rl_trainer_config(recipe, targs)
    assert type(cfg) is (CurrvlRCPAConfig if recipe.method == "rcpa" else CurrvlGRPOConfig)
    assert cfg.dynamic_sampling == recipe.rollout.dynamic_sampling
    assert cfg.share_vision_encoding == recipe.rollout.share_vision_encoding
    if recipe.method == "rcpa":
        assert cfg.rcpa == recipe.rcpa


def _recipe(model_dir, out, method="grpo", **sections):
    return recipe_from_dict(
        {
            "method": method,
            "output_dir": str(out),
            "seed": 0,
            "model": {"name_or_path": str(model_dir)},
            "data": {"train": {"synthetic": "scan", "n": 8, "seed": 0}},
            "rewards": ["format", "accuracy"],
            "trainer": {"per_device_train_batch_size": 4, "num_generations": 2, "report_to": "none"},
            **sections,
        }
    )


def test_trainers_read_the_recipe_options_from_args(tiny_model_dir, tmp_path):
    samples = make_samples("scan", "train", 8, seed=0)
    rollout = {"share_vision_encoding": False, "dynamic_sampling": {"max": 0.9, "max_rounds": 2}}
    recipe = _recipe(tiny_model_dir, tmp_path / "grpo", rollout=rollout)
    trainer = build_trainer(recipe, tmp_path / "grpo", samples)
    assert type(trainer) is CurrvlGRPOTrainer and type(trainer.args) is CurrvlGRPOConfig
    assert trainer.args.dynamic_sampling.max_rounds == recipe.rollout.dynamic_sampling.max_rounds == 2
    assert trainer.args.dynamic_sampling.max == 0.9
    assert not trainer.args.share_vision_encoding and not trainer.share_vision_encoding

    recipe = _recipe(tiny_model_dir, tmp_path / "rcpa", method="rcpa", rcpa={"steps": 5, "rho_max": 0.25})
    trainer = build_trainer(recipe, tmp_path / "rcpa", samples)
    assert type(trainer) is CurrvlRCPATrainer and type(trainer.args) is CurrvlRCPAConfig
    assert trainer.args.rcpa is recipe.rcpa and trainer.rcpa.steps == 5 and trainer.rcpa.rho_max == 0.25
    assert trainer.args.dynamic_sampling is None and trainer.share_vision_encoding  # the defaults


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "rollout:\n  dynamic_sampling:\n    max_rounds: -1\n",
            r"r.yaml:8: rollout.dynamic_sampling.max_rounds: must be >= 0",
        ),
        (
            "rollout:\n  dynamic_sampling:\n    max_round: 1\n",
            r"r.yaml:8: .*did you mean 'rollout.dynamic_sampling.max_rounds'",
        ),
        ("rollout:\n  share_vision_encoding: maybe\n", r"r.yaml:7: rollout.share_vision_encoding: expected"),
        ("rcpa:\n  rho_max: 1.5\n", r"r.yaml:7: rcpa.rho_max: must be in \[0, 1\]"),
        # the options stay in their own sections: `trainer:` holds trl.GRPOConfig's fields only
        (
            "trainer:\n  dynamic_sampling: {max_rounds: 1}\n",
            r"r.yaml:7: trainer.dynamic_sampling: not a field",
        ),
    ],
)
def test_invalid_options_in_a_recipe_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "r.yaml"
    path.write_text(
        "method: rcpa\nmodel: {name_or_path: m}\ndata: {train: d.jsonl}\nseed: 0\noutput_dir: o\n" + text
    )
    with pytest.raises(RecipeError, match=message):
        load_recipe(path)


def test_no_trl_trainer_argument_shares_a_config_field_name():
    """The trainers refuse config fields passed as trainer arguments; TRL's own arguments must pass."""
    import inspect

    from trl import GRPOTrainer

    fields = {f.name for f in dataclasses.fields(CurrvlRCPAConfig)}
    assert not fields & set(inspect.signature(GRPOTrainer.__init__).parameters)
