"""YAML recipes: one file says which model, which data, which method and which trainer settings.

Keys are checked before anything is loaded: an unknown or mistyped key, or a value of the wrong type,
fails with `FILE:LINE: key.path: problem` (and a did-you-mean), so a typo never costs a training run.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from currvl.algorithms.dynamic_sampling import DynamicSamplingConfig
from currvl.algorithms.rcpa import RCPAConfig

METHODS = ("sft", "grpo", "rcpa")


class RecipeError(ValueError):
    """A recipe problem, with the file and line that caused it."""


@dataclass
class ModelArgs:
    name_or_path: str = ""
    dtype: str = "auto"  # "auto": bfloat16 on GPU, float32 on CPU
    min_pixels: int | None = None
    max_pixels: int | None = None
    attn_implementation: str | None = None
    lora: dict[str, Any] | None = None  # peft.LoraConfig kwargs; None = full fine-tuning


@dataclass
class DataArgs:
    # A source is a .jsonl path, a HF dataset name/folder, or {"synthetic": WORLD, "n": N, "split": ..., "seed": ...}.
    train: Any = None
    eval: Any = None
    image_root: str | None = None
    on_error: str = "fail"  # or "skip": drop bad rows and report how many
    # Answer formats to cycle through the training samples (e.g. [open, judge, choice]); None = as given.
    formats: list[str] | None = None
    column_map: dict[str, str] | None = None


@dataclass
class RolloutArgs:
    """How RL rollouts are produced (methods grpo and rcpa, curriculum stages included)."""

    # Encode each distinct image once per forward pass for its whole group (same loss and gradients).
    share_vision_encoding: bool = True
    # Drop groups whose task-reward mean is <= min or >= max and refill from fresh prompts; None = off.
    dynamic_sampling: DynamicSamplingConfig | None = None


@dataclass
class SelfImproveArgs:
    """Curr-ReFT stage B after the RL stages: sample, score 0-100, keep >= threshold, SFT on the kept set."""

    # A source or a list of sources: a general-purpose mix (multimodal and text-only items), not the domain.
    data: Any = None
    num_samples: int = 4
    temperature: float = 1.0
    max_new_tokens: int = 256
    threshold: float = 85.0  # 0-100 scale; the paper kept answers scoring >= 85
    keep: str = "best"  # "best" answer per query, or "all" at/above the threshold
    batch_size: int = 8
    # trl.SFTConfig fields for the fine-tune on the kept set; learning_rate defaults to the paper's 2e-7.
    trainer: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recipe:
    method: str = "grpo"
    output_dir: str = "runs/currvl"
    seed: int = 42
    model: ModelArgs = field(default_factory=ModelArgs)
    data: DataArgs = field(default_factory=DataArgs)
    rewards: list[str] = field(default_factory=lambda: ["format", "accuracy"])
    reward_options: dict[str, Any] = field(default_factory=dict)
    rollout: RolloutArgs = field(default_factory=RolloutArgs)
    # Everything here goes to trl.GRPOConfig / trl.SFTConfig (checked against their fields).
    trainer: dict[str, Any] = field(default_factory=dict)
    # Optional stage list (Curr-ReFT): each item holds currvl.training.curriculum.Stage fields.
    curriculum: list[dict[str, Any]] | None = None
    # Optional rejection-sampling self-improvement run after the GRPO training (Curr-ReFT stage B).
    self_improve: SelfImproveArgs | None = None
    # RCPA settings (method: rcpa): prefix schedule, familiarity rule, reward threshold, difficulty.
    rcpa: RCPAConfig | None = None
    source: str = "<memory>"  # where the recipe came from, for messages


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key, keyed by its dotted path."""


def _load_with_lines(text: str) -> tuple[Any, dict[str, int]]:
    lines: dict[str, int] = {}
    node = yaml.compose(text, Loader=_LineLoader)
    if node is None:
        return {}, lines

    def walk(n: yaml.Node, prefix: str) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                path = f"{prefix}.{k.value}" if prefix else str(k.value)
                lines[path] = k.start_mark.line + 1
                walk(v, path)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                path = f"{prefix}.{i}"
                lines[path] = item.start_mark.line + 1
                walk(item, path)

    walk(node, "")
    return yaml.safe_load(text), lines


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is not None:
        return isinstance(value, origin)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _optional_dataclass(annotation: Any) -> Any:
    """`X | None` where X is a dataclass -> X (a section that may be left out); anything else unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        classes = [a for a in typing.get_args(annotation) if dataclasses.is_dataclass(a)]
        if len(classes) == 1:
            return classes[0]
    return annotation


def _build(cls: type, data: dict[str, Any], prefix: str, src: str, lines: dict[str, int]) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name != "source"]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        where = f"{src}:{lines.get(path, '?')}: {path}"
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else f" (known keys: {', '.join(names)})"
            raise RecipeError(f"{where}: unknown key{hint}")
        annotation = _optional_dataclass(hints[key])
        if dataclasses.is_dataclass(annotation) and value is not None:
            if not isinstance(value, dict):
                raise RecipeError(f"{where}: expected a mapping, got {type(value).__name__}")
            try:
                value = _build(annotation, value, f"{path}.", src, lines)
            except RecipeError:
                raise
            except (TypeError, ValueError) as err:
                raise RecipeError(f"{where}: {err}") from None
        else:
            value = _coerce_number(value, annotation)
            if not _type_ok(value, annotation):
                raise RecipeError(f"{where}: expected {annotation}, got {type(value).__name__} {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def _accepts(annotation: Any, kind: type) -> bool:
    if annotation is kind:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(a is kind for a in typing.get_args(annotation))
    return False


def _coerce_number(value: Any, annotation: Any) -> Any:
    """YAML 1.1 reads `1e-6` (no dot) as a string; where a float is expected, read it as the number."""
    if isinstance(value, str) and _accepts(annotation, float) and not _accepts(annotation, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _trainer_fields(method: str) -> set[str]:
    from trl import GRPOConfig, SFTConfig

    cls = SFTConfig if method == "sft" else GRPOConfig  # grpo and rcpa train with GRPOConfig
    return {f.name for f in dataclasses.fields(cls)}


def recipe_from_dict(
    data: dict[str, Any], source: str = "<memory>", lines: dict[str, int] | None = None
) -> Recipe:
    lines = lines or {}
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: a recipe must be a YAML mapping, got {type(data).__name__}")
    recipe = _build(Recipe, data, "", source, lines)
    recipe.source = source
    if recipe.method not in METHODS:
        raise RecipeError(
            f"{source}:{lines.get('method', '?')}: method: must be one of {METHODS}, got {recipe.method!r}"
        )
    if not recipe.model.name_or_path:
        raise RecipeError(f"{source}: model.name_or_path: required")
    if recipe.data.train is None:
        raise RecipeError(f"{source}: data.train: required")
    from currvl.data.formats import FORMATS

    bad_formats = [f for f in recipe.data.formats or [] if f not in FORMATS]
    if bad_formats:
        raise RecipeError(
            f"{source}:{lines.get('data.formats', '?')}: data.formats: {bad_formats} not in {FORMATS}"
        )
    if recipe.data.on_error not in ("fail", "skip"):
        raise RecipeError(
            f"{source}:{lines.get('data.on_error', '?')}: data.on_error: must be 'fail' or 'skip'"
        )
    if recipe.rcpa is not None and recipe.method != "rcpa":
        raise RecipeError(f"{source}:{lines.get('rcpa', '?')}: rcpa: settings need method 'rcpa'")
    if recipe.rollout.dynamic_sampling is not None and recipe.method == "sft":
        line = lines.get("rollout.dynamic_sampling", "?")
        raise RecipeError(f"{source}:{line}: rollout.dynamic_sampling: needs an RL method ('grpo' or 'rcpa')")
    if recipe.method == "rcpa" and recipe.rcpa is None:
        recipe.rcpa = RCPAConfig()
    if recipe.curriculum is not None:
        parse_stages(recipe.curriculum, source, lines)  # fail now; the runner parses them again
        if recipe.method != "grpo":
            raise RecipeError(f"{source}:{lines.get('curriculum', '?')}: curriculum: needs method 'grpo'")
    _check_trainer_keys(recipe.trainer, recipe.method, "trainer", source, lines)
    if recipe.self_improve is not None:
        _check_self_improve(recipe, lines)
    return recipe


def _check_trainer_keys(
    trainer: dict[str, Any], method: str, prefix: str, source: str, lines: dict[str, int]
) -> None:
    known = _trainer_fields(method)
    hints = _trainer_hints(method)
    for key, value in list(trainer.items()):
        where = f"{source}:{lines.get(f'{prefix}.{key}', '?')}: {prefix}.{key}"
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean '{prefix}.{close[0]}'?)" if close else ""
            raise RecipeError(f"{where}: not a field of the {method} trainer config{hint}")
        annotation = hints.get(key, Any)
        if any(_accepts(annotation, t) for t in (float, int, bool)) and not _accepts(annotation, str):
            value = trainer[key] = _coerce_number(value, annotation)
            if value is not None and not _type_ok(value, annotation):
                raise RecipeError(f"{where}: expected {annotation}, got {type(value).__name__} {value!r}")


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


def _check_self_improve(recipe: Recipe, lines: dict[str, int]) -> None:
    si, source = recipe.self_improve, recipe.source
    assert si is not None

    def fail(key: str, problem: str) -> None:
        raise RecipeError(
            f"{source}:{lines.get(f'self_improve.{key}', lines.get('self_improve', '?'))}: self_improve.{key}: {problem}"
        )

    if recipe.method == "sft":
        fail("data", "self-improvement follows RL training; needs method 'grpo' or 'rcpa'")
    if si.data is None:
        fail("data", "required (a general-purpose source, or a list of sources)")
    if si.keep not in ("best", "all"):
        fail("keep", f"must be 'best' or 'all', got {si.keep!r}")
    if not 0 <= si.threshold <= 100:
        fail("threshold", f"is on a 0-100 scale, got {si.threshold}")
    if si.num_samples < 1:
        fail("num_samples", f"must be >= 1, got {si.num_samples}")
    _check_trainer_keys(si.trainer, "sft", "self_improve.trainer", source, lines)


def parse_stages(items: list[Any], source: str = "<memory>", lines: dict[str, int] | None = None) -> list:
    """Curriculum stage dicts -> `Stage` objects, with FILE:LINE errors for unknown keys and bad values."""
    from currvl.data.formats import FORMATS
    from currvl.training.curriculum import Stage

    lines = lines or {}
    stages = []
    for i, item in enumerate(items):
        where = f"{source}:{lines.get(f'curriculum.{i}', '?')}: curriculum.{i}"
        if not isinstance(item, dict):
            raise RecipeError(f"{where}: expected a mapping of stage settings")
        try:
            stage = _build(Stage, item, f"curriculum.{i}.", source, lines)
        except (TypeError, ValueError) as err:
            if isinstance(err, RecipeError):
                raise
            raise RecipeError(f"{where}: {err}") from None
        if stage.format not in FORMATS:
            raise RecipeError(f"{where}.format: must be one of {FORMATS}, got {stage.format!r}")
        stages.append(stage)
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise RecipeError(f"{source}: curriculum: stage names must be unique, got {names}")
    return stages


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read and check a YAML recipe. `overrides` maps dotted keys to values (e.g. {"trainer.max_steps": 5})."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"{path}: no such recipe file")
    data, lines = _load_with_lines(path.read_text())
    data = data or {}
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return recipe_from_dict(data, str(path), lines)
