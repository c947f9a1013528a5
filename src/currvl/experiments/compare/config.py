"""A compare config: the base model, the domain, the probe sizes, the methods and the claims' pairs.

Loaded through the same FILE:LINE checker as a recipe (`currvl.config.loader`): a bad method name,
recipe path or contrast fails before anything trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from currvl.config.loader import ConfigError, build_config, read_config_file, where


@dataclass
class MethodConfig:
    name: str
    recipe: str | None = None  # a recipe file, run from the base model
    source: str | None = None  # or: the run of another method (its `name`) ...
    model: str | None = None  # ... and the model folder inside it, e.g. "stage2-open/final"
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.recipe is None) == (self.source is None):
            raise ValueError(f"method {self.name!r}: give either recipe or source (+ model)")


@dataclass
class QuickConfig:
    """`quick:` of a compare config, applied by `--quick`: smaller probes and runs, in their own folder."""

    output_dir: str | None = None  # default: the config's output_dir + "-quick"
    general_n: int | None = None
    domain_n: int | None = None
    checkpoints: int | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # {METHOD: {dotted key: value}}


@dataclass
class CompareConfig:
    output_dir: str = "runs/compare"
    base: str = "currvl-base"  # a model folder, a hub id, or currvl-base (the shipped bench base)
    domain: str = "synthetic:scan"
    general_n: int = 1000
    domain_n: int = 500
    # a second held-out split of the domain (e.g. "test_ood": another count range or layout), scored on
    # domain_n items of every final model beside the in-domain split
    ood_split: str | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    # The path along training: up to `checkpoints` saved checkpoints of each run (evenly spaced, 0 = none)
    # are evaluated on the first `curve_general_n` / `curve_domain_n` items of the same probes.
    checkpoints: int = 4
    curve_general_n: int = 300
    curve_domain_n: int = 200
    methods: list[MethodConfig] = field(default_factory=list)
    # [A, B] pairs of method names: the report states A - B on the same probe items, per seed, with
    # paired bootstrap 95% intervals (a claim such as "Curr-ReFT >= GRPO + 0.1" is read off them)
    contrasts: list[list[str]] = field(default_factory=list)
    quick: QuickConfig = field(default_factory=QuickConfig)
    source: str = "<memory>"


OOD_SET = "domain_ood"  # the evaluation's name for the domain's ood_split


def load_compare_config(path: str | Path, quick: bool = False) -> CompareConfig:
    """Read and check a compare config (errors as `FILE:LINE: key: problem`, like a recipe's); `quick`
    applies its `quick:` section (smaller probes and runs)."""
    path = Path(path)
    data, lines = read_config_file(path, "compare config")
    cfg = build_config(CompareConfig, data, str(path), lines, skip=("source",))
    cfg.source = str(path)
    names = [m.name for m in cfg.methods]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where(str(path), lines, 'methods')}: method names must be unique, got {names}")
    for i, m in enumerate(cfg.methods):
        at = where(str(path), lines, f"methods.{i}")
        if m.recipe is not None:
            recipe = _recipe_path(m.recipe, path)
            if not recipe.exists():
                raise ConfigError(f"{at}.recipe: {m.recipe} not found")
            m.recipe = str(recipe)
        if m.source is not None and m.source not in names:
            raise ConfigError(f"{at}.source: {m.source!r} is not a method of this config")
    for i, pair in enumerate(cfg.contrasts):
        at = where(str(path), lines, f"contrasts.{i}")
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ConfigError(f"{at}: a contrast is two different method names [A, B], got {pair}")
        for name in pair:
            if name not in names:
                raise ConfigError(f"{at}: {name!r} is not a method of this config")
    for name in cfg.quick.overrides:
        if name not in names:
            raise ConfigError(
                f"{where(str(path), lines, f'quick.overrides.{name}')}: not a method of this config"
            )
    if quick:  # its own folder: cached runs of the quick recipes must never stand in for the full ones
        q = cfg.quick
        cfg.output_dir = q.output_dir if q.output_dir is not None else f"{cfg.output_dir}-quick"
        cfg.general_n = q.general_n if q.general_n is not None else cfg.general_n
        cfg.domain_n = q.domain_n if q.domain_n is not None else cfg.domain_n
        cfg.checkpoints = q.checkpoints if q.checkpoints is not None else cfg.checkpoints
        for m in cfg.methods:
            m.overrides = {**m.overrides, **(cfg.quick.overrides.get(m.name) or {})}
    cfg.curve_general_n = min(cfg.curve_general_n, cfg.general_n)  # the curve probe is a part of the probe
    cfg.curve_domain_n = min(cfg.curve_domain_n, cfg.domain_n)
    return cfg


def _recipe_path(recipe: str, config: Path) -> Path:
    """A recipe named in a compare config: as given (from the working folder), else relative to the
    repository the config lives in (configs/NAME.yaml -> the folder above configs/)."""
    p = Path(recipe)
    return p if p.exists() else config.resolve().parent.parent / p
