"""YAML recipes: one file says which model, which data, which method and which trainer settings.

Keys are checked before anything is loaded: an unknown or mistyped key, or a value of the wrong type,
fails with `FILE:LINE: key.path: problem` (and a did-you-mean), so a typo never costs a training run.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from currvl.algorithms.dynamic_sampling import DynamicSamplingConfig
from currvl.algorithms.rcpa import RCPAConfig
from currvl.algorithms.self_improve import SelfImproveConfig
from currvl.config.loader import (
    ConfigError,
    accepts,
    build_config,
    checked_value,
    did_you_mean,
    read_config_file,
    where,
)
from currvl.training.curriculum import Stage, apportion_steps

METHODS = ("sft", "grpo", "rcpa")

RecipeError = ConfigError
"""A recipe problem, with the file and line that caused it (the loader's error, under the name recipe
users know)."""


@dataclass
class ModelConfig:
    name_or_path: str = ""
    dtype: str = "auto"  # "auto": bfloat16 on GPU, float32 on CPU
    min_pixels: int | None = None
    max_pixels: int | None = None
    attn_implementation: str | None = None
    lora: dict[str, Any] | None = None  # peft.LoraConfig kwargs; None = full fine-tuning


@dataclass
class DataConfig:
    # A source is a .jsonl path, a HF dataset name/folder, or {"synthetic": WORLD, "n": N, "split": ..., "seed": ...}.
    train: Any = None
    eval: Any = None
    image_root: str | None = None
    on_error: str = "fail"  # or "skip": drop bad rows and report how many
    # Answer formats to cycle through the training samples (e.g. [open, judge, choice]); None = as given.
    formats: list[str] | None = None
    column_map: dict[str, str] | None = None
    # Words that name the domain's concepts (a curriculum stage with about: concept asks about them);
    # None = a synthetic world's own concept words.
    concepts: list[str] | None = None


@dataclass
class RolloutConfig:
    """How RL rollouts are produced (methods grpo and rcpa, curriculum stages included)."""

    # Encode each distinct image once per forward pass for its whole group (same loss and gradients).
    share_vision_encoding: bool = True
    # Drop groups whose task-reward mean is <= min or >= max and refill from fresh prompts; None = off.
    dynamic_sampling: DynamicSamplingConfig | None = None


@dataclass
class SelfImproveRunConfig(SelfImproveConfig):
    """Curr-ReFT stage B after the RL stages: sample, score 0-100, keep >= threshold (the paper kept
    answers scoring >= 85), SFT on the kept set. The sampling settings are `SelfImproveConfig`'s."""

    # A source or a list of sources: a general-purpose mix (multimodal and text-only items), not the domain.
    data: Any = None
    # trl.SFTConfig fields for the fine-tune on the kept set; learning_rate defaults to the paper's 2e-7.
    trainer: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recipe:
    method: str = "grpo"
    output_dir: str = "runs/currvl"
    seed: int = 42
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rewards: list[str] = field(default_factory=lambda: ["format", "accuracy"])
    reward_options: dict[str, Any] = field(default_factory=dict)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    # Everything here goes to trl.GRPOConfig / trl.SFTConfig (checked against their fields).
    trainer: dict[str, Any] = field(default_factory=dict)
    # Optional stage list (Curr-ReFT): each item holds currvl.training.curriculum.Stage fields.
    curriculum: list[Stage] | None = None
    # Optional rejection-sampling self-improvement run after the GRPO training (Curr-ReFT stage B).
    self_improve: SelfImproveRunConfig | None = None
    # RCPA settings (method: rcpa): prefix schedule, familiarity rule, reward threshold, difficulty.
    rcpa: RCPAConfig | None = None
    source: str = "<memory>"  # where the recipe came from, for messages


def default_trainer_args(method: str, on_gpu: bool) -> dict[str, Any]:
    """Settings that make a recipe run sensibly on this hardware; anything in `trainer:` overrides them."""
    args: dict[str, Any] = {
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": 50,
        "report_to": ["tensorboard"],
        "bf16": on_gpu,
        "use_cpu": not on_gpu,
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
    }
    if method in ("grpo", "rcpa"):
        args.update(
            {"num_generations": 4, "max_completion_length": 64, "beta": 0.04, "log_completions": False}
        )
    return args


def trainer_settings(recipe: Recipe) -> dict[str, Any]:
    """Every trainer field as the run will see it: TRL's defaults, then currvl's, then the recipe's
    `trainer:` (a null there keeps the default)."""
    from trl import GRPOConfig, SFTConfig

    cls = SFTConfig if recipe.method == "sft" else GRPOConfig
    settings = {f.name: f.default for f in dataclasses.fields(cls)}
    settings.update(default_trainer_args(recipe.method, on_gpu=False))
    settings.update({k: v for k, v in recipe.trainer.items() if v is not None})
    return settings


def _trainer_fields(method: str) -> set[str]:
    from trl import GRPOConfig, SFTConfig

    # TRL's own fields only: the rollout and rcpa options have their own recipe sections
    cls = SFTConfig if method == "sft" else GRPOConfig
    return {f.name for f in dataclasses.fields(cls)}


def recipe_from_dict(
    data: dict[str, Any], source: str = "<memory>", lines: dict[str, int] | None = None
) -> Recipe:
    lines = lines or {}
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: a recipe must be a YAML mapping, got {type(data).__name__}")
    recipe = build_config(Recipe, data, source, lines, skip=("source",))
    recipe.source = source
    if recipe.method not in METHODS:
        raise RecipeError(
            f"{where(source, lines, 'method')}: must be one of {METHODS}, got {recipe.method!r}"
        )
    if not recipe.model.name_or_path:
        raise RecipeError(f"{where(source, lines, 'model.name_or_path')}: required")
    if recipe.data.train is None:
        raise RecipeError(f"{where(source, lines, 'data.train')}: required")
    from currvl.data.formats import FORMATS

    bad_formats = [f for f in recipe.data.formats or [] if f not in FORMATS]
    if bad_formats:
        raise RecipeError(f"{where(source, lines, 'data.formats')}: {bad_formats} not in {FORMATS}")
    if recipe.data.on_error not in ("fail", "skip"):
        raise RecipeError(f"{where(source, lines, 'data.on_error')}: must be 'fail' or 'skip'")
    if recipe.rcpa is not None and recipe.method != "rcpa":
        raise RecipeError(f"{where(source, lines, 'rcpa')}: settings need method 'rcpa'")
    if recipe.rollout.dynamic_sampling is not None and recipe.method == "sft":
        raise RecipeError(
            f"{where(source, lines, 'rollout.dynamic_sampling')}: needs an RL method ('grpo' or 'rcpa')"
        )
    if recipe.method == "rcpa" and recipe.rcpa is None:
        recipe.rcpa = RCPAConfig()
    if recipe.curriculum is not None:
        _check_stages(recipe.curriculum, source, lines)
        if recipe.method != "grpo":
            raise RecipeError(f"{where(source, lines, 'curriculum')}: needs method 'grpo'")
        if any(s.about == "concept" for s in recipe.curriculum) and not concept_words(recipe):
            raise RecipeError(
                f"{where(source, lines, 'data.concepts')}: a stage asks about the concept (about: concept); "
                "name the words that mark the domain's concepts (a synthetic world has its own)"
            )
    _check_dtype(recipe.model.dtype, source, lines)
    _check_rewards(recipe.rewards, "rewards", source, lines)
    for i, stage in enumerate(recipe.curriculum or []):
        _check_rewards(stage.rewards, f"curriculum.{i}.rewards", source, lines)
    _check_trainer_keys(recipe.trainer, recipe.method, "trainer", source, lines)
    if recipe.curriculum is not None:
        _apportion_stages(recipe, lines)  # after the check: trainer.max_steps is a checked int now
    if recipe.method != "sft":
        _check_whole_groups(recipe, lines)
    if recipe.self_improve is not None:
        _check_self_improve(recipe, lines)
    return recipe


def concept_words(recipe: Recipe) -> list[str]:
    """The words that mark the domain's concepts: `data.concepts`, else the synthetic world's own."""
    from currvl.data.sources import source_concepts

    return list(recipe.data.concepts or source_concepts(recipe.data.train))


def _check_dtype(dtype: str, source: str, lines: dict[str, int]) -> None:
    from currvl.models.loading import DTYPE_NAMES

    if dtype not in DTYPE_NAMES:
        hint = did_you_mean(str(dtype), list(DTYPE_NAMES))
        raise RecipeError(
            f"{where(source, lines, 'model.dtype')}: unknown dtype {dtype!r}{hint}; expected one of {list(DTYPE_NAMES)}"
        )


def _check_rewards(names: list[str], key: str, source: str, lines: dict[str, int]) -> None:
    """Known reward names, or a `module:function` that imports: a typo in a later curriculum stage or
    compare method, or a module that is not importable, fails at load, not after the earlier ones trained
    (and before the run's folder is claimed)."""
    from currvl.rewards import REWARD_NAMES
    from currvl.rewards.registry import import_reward

    for i, name in enumerate(names):
        if ":" in name:
            try:
                import_reward(name)
            except ValueError as err:
                raise RecipeError(f"{where(source, lines, f'{key}.{i}')}: {err}") from None
        elif name not in REWARD_NAMES:
            hint = did_you_mean(name, list(REWARD_NAMES))
            raise RecipeError(
                f"{where(source, lines, f'{key}.{i}')}: unknown reward {name!r}{hint}; known rewards: "
                f"{list(REWARD_NAMES)} or 'module.path:function'"
            )


def _check_trainer_keys(
    trainer: dict[str, Any], method: str, prefix: str, source: str, lines: dict[str, int]
) -> None:
    known = _trainer_fields(method)
    hints = _trainer_hints(method)
    for key, value in list(trainer.items()):
        at = where(source, lines, f"{prefix}.{key}")
        if key not in known:
            hint = did_you_mean(key, sorted(known), f"{prefix}.")
            raise RecipeError(f"{at}: not a field of the {method} trainer config{hint}")
        annotation = hints.get(key, Any)
        numeric = any(accepts(annotation, t) for t in (float, int, bool)) and not accepts(annotation, str)
        if numeric and value is not None:
            trainer[key] = checked_value(value, annotation, at)
        _check_choice(value, annotation, at)


def _check_choice(value: Any, annotation: Any, at: str) -> None:
    """A trainer field typed as one of TRL's named choices (`lr_scheduler_type`, `optim`, the
    strategies) takes one of its names: a typo fails here, not when the trainer is built."""
    choices = [
        a for a in typing.get_args(annotation) or (annotation,) if isinstance(a, type) and issubclass(a, Enum)
    ]
    if not choices or not isinstance(value, str):
        return
    names = [str(e.value) for e in choices[0]]
    if value not in names:
        hint = did_you_mean(value, names)
        raise RecipeError(f"{at}: {value!r} is not one of its choices{hint}: {names}")


def _trainer_hints(method: str) -> dict[str, Any]:
    """Type hints of the trainer config's fields (numbers and flags are checked up front)."""
    from trl import GRPOConfig, SFTConfig

    cls = SFTConfig if method == "sft" else GRPOConfig
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        try:
            hints.update(typing.get_type_hints(klass))
        except Exception:  # a base whose annotations do not resolve: skip its fields
            continue
    return hints


def _check_whole_groups(recipe: Recipe, lines: dict[str, int]) -> None:
    """A step's rollouts hold whole groups of `num_generations` (TRL's rule over all processes; dynamic
    sampling's over each process), in every curriculum stage. TRL checks it only when it builds the
    config, which in a compare is after the base evaluation and the earlier methods. The processes are
    the launcher's (`WORLD_SIZE`; a plain `currvl train` or a compare runs on one)."""
    source, trainer = recipe.source, trainer_settings(recipe)
    per_device = trainer["per_device_train_batch_size"]
    steps = trainer.get("steps_per_generation") or trainer["gradient_accumulation_steps"]
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    if trainer.get("generation_batch_size") and trainer.get("steps_per_generation"):
        raise RecipeError(
            f"{where(source, lines, 'trainer.generation_batch_size')}: give generation_batch_size or "
            "steps_per_generation, not both"
        )
    rollouts = trainer.get("generation_batch_size") or per_device * processes * steps
    if rollouts % (per_device * processes):
        raise RecipeError(
            f"{where(source, lines, 'trainer.generation_batch_size')}: {rollouts} rollouts is not a multiple "
            f"of the batch a step trains on (per_device_train_batch_size {per_device} x {processes} process(es))"
        )
    made_of = (
        f"generation_batch_size {rollouts}"
        if trainer.get("generation_batch_size")
        else f"per_device_train_batch_size {per_device} x {processes} process(es) x {steps} steps per generation"
    )
    local = rollouts // processes
    sizes = [("trainer.num_generations", trainer["num_generations"])]
    if recipe.curriculum is not None:  # each stage's own group size, or the trainer's
        sizes = [
            (f"curriculum.{i}.num_generations", s.num_generations) if s.num_generations else sizes[0]
            for i, s in enumerate(recipe.curriculum)
        ]
    for key, size in sizes:
        written = key in lines or key.startswith("curriculum")  # else the group size is the default
        at = where(source, lines, key if written else "trainer.per_device_train_batch_size")
        if rollouts % size:
            raise RecipeError(
                f"{at}: a generation samples {rollouts} rollouts ({made_of}), not whole groups of "
                f"num_generations {size}; make the batch a multiple of the group size"
            )
        if recipe.rollout.dynamic_sampling is not None and local % size:
            raise RecipeError(
                f"{at}: dynamic sampling needs whole groups on each process: {local} rollouts a process "
                f"(per_device_train_batch_size x steps per generation) is not a multiple of num_generations {size}"
            )


def _check_self_improve(recipe: Recipe, lines: dict[str, int]) -> None:
    si, source = recipe.self_improve, recipe.source
    assert si is not None

    def fail(key: str, problem: str) -> None:
        raise RecipeError(f"{where(source, lines, f'self_improve.{key}')}: {problem}")

    if recipe.method == "sft":
        fail("data", "self-improvement follows RL training; needs method 'grpo' or 'rcpa'")
    if si.data is None:
        fail("data", "required (a general-purpose source, or a list of sources)")
    _check_trainer_keys(si.trainer, "sft", "self_improve.trainer", source, lines)


def _check_stages(stages: list[Stage], source: str, lines: dict[str, int]) -> None:
    """What a stage cannot check on its own: a known answer format, unique names, an accuracy reward."""
    from currvl.data.formats import FORMATS

    for i, stage in enumerate(stages):
        if stage.format not in FORMATS:
            raise RecipeError(
                f"{where(source, lines, f'curriculum.{i}.format')}: must be one of {FORMATS}, got {stage.format!r}"
            )
        if "accuracy" not in stage.rewards:
            raise RecipeError(
                f"{where(source, lines, f'curriculum.{i}.rewards')}: must include 'accuracy' (it moves the curriculum)"
            )
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise RecipeError(f"{where(source, lines, 'curriculum')}: stage names must be unique, got {names}")


def _apportion_stages(recipe: Recipe, lines: dict[str, int]) -> None:
    """Stages with a `share` split trainer.max_steps (the run's RL step budget) between them."""
    stages, source = recipe.curriculum or [], recipe.source
    shared = [s.share is not None for s in stages]
    if not any(shared):
        return
    if not all(shared):
        i = shared.index(False)
        raise RecipeError(f"{where(source, lines, f'curriculum.{i}')}: give every stage a share, or none")
    total = recipe.trainer.get("max_steps")
    if not isinstance(total, int) or total < len(stages):
        key = "trainer.max_steps" if "trainer.max_steps" in lines else "curriculum"
        raise RecipeError(
            f"{where(source, lines, key)}: stage shares need trainer.max_steps, the total RL steps "
            f"(an integer >= {len(stages)}), got {total!r}"
        )
    for stage, steps in zip(stages, apportion_steps(total, [s.share or 0.0 for s in stages]), strict=True):
        stage.max_steps = steps


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read and check a YAML recipe. `overrides` maps dotted keys to values (e.g. {"trainer.max_steps": 5})."""
    data, lines = read_config_file(path, "recipe")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return recipe_from_dict(data, str(path), lines)
