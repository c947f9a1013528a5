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
    # a recipe run from another method's final model of the same seed instead of the base (a supervised
    # warm start, then GRPO: `start_from: SFT warm-up`); its cost counts both runs
    start_from: str | None = None
    # whether the compare config's `budget` applies (false for ceiling checks and warm-up parts)
    matched: bool = True

    def __post_init__(self) -> None:
        if (self.recipe is None) == (self.source is None):
            raise ValueError(f"method {self.name!r}: give either recipe or source (+ model)")
        if self.start_from is not None and self.recipe is None:
            raise ValueError(f"start_from: method {self.name!r} needs a recipe to run from another's model")


@dataclass
class QuickConfig:
    """`quick:` of a compare config, applied by `--quick`: smaller probes and runs, in their own folder."""

    output_dir: str | None = None  # default: the config's output_dir + "-quick"
    general_n: int | None = None
    domain_n: int | None = None
    checkpoints: int | None = None
    budget: int | None = None  # the quick runs' matched budget; None: not checked
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
    # Matched budgets: the domain prompts every `matched` method trains on (RL: steps x prompts a step;
    # SFT: steps x items a step; a start_from method adds its warm start's). The loader computes each
    # from its recipe and overrides and refuses a config whose methods differ from `budget` by more
    # than `budget_tolerance` (relative); None: not checked (report.md still states each method's).
    budget: int | None = None
    budget_tolerance: float = 0.05
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
    if not cfg.seeds:
        raise ConfigError(f"{where(str(path), lines, 'seeds')}: needs at least one seed, e.g. [0, 1, 2]")
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
        if m.start_from is not None:
            start = next((x for x in cfg.methods if x.name == m.start_from), None)
            if start is None or start.recipe is None or start is m:
                raise ConfigError(
                    f"{at}.start_from: {m.start_from!r} is not another recipe method of this config"
                )
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
    recipes = method_recipes(cfg, lines)  # with the quick overrides, as the runs will be made
    for i, m in enumerate(cfg.methods):
        if m.source is not None:
            _check_derived_model(m, recipes.get(m.source), where(str(path), lines, f"methods.{i}"))
    _check_chains(cfg, str(path), lines)
    budget = cfg.quick.budget if quick else cfg.budget
    if budget is not None:
        check_budgets(cfg, budget, str(path), lines, recipes)
    cfg.curve_general_n = min(cfg.curve_general_n, cfg.general_n)  # the curve probe is a part of the probe
    cfg.curve_domain_n = min(cfg.curve_domain_n, cfg.domain_n)
    return cfg


def method_recipes(cfg: CompareConfig, lines: dict[str, int] | None = None) -> dict[str, Any]:
    """Every recipe method's recipe with its overrides and the base as its model (the compare sets
    it, as its run does: a recipe may leave it out); a bad one is named by the compare's file and
    line, so it stops the compare before the base is evaluated and the methods before it train."""
    from currvl.training.recipe import load_recipe

    recipes = {}
    for i, m in enumerate(cfg.methods):
        if m.recipe is None:
            continue
        try:
            recipes[m.name] = load_recipe(m.recipe, {"model.name_or_path": cfg.base, **m.overrides})
        except ConfigError as err:
            raise ConfigError(f"{where(cfg.source, lines or {}, f'methods.{i}')}: {m.name}: {err}") from None
    return recipes


def _check_derived_model(m: MethodConfig, recipe, at: str) -> None:
    """A model inside another method's run must be one that run writes (a stage's, the self-improved
    one or the final one), or the compare would train every method of a seed and then stop on it."""
    from currvl.training.curriculum import SELF_IMPROVE_FOLDER, stage_folder

    if recipe is None:
        raise ConfigError(f"{at}.source: {m.source!r} is itself a model inside another run")
    stages = recipe.curriculum or []
    models = [f"{stage_folder(k, s.name)}/final" for k, s in enumerate(stages)] if stages else ["final"]
    if recipe.self_improve is not None:
        models.append(f"{SELF_IMPROVE_FOLDER}/sft/final")
    if (m.model or "final") not in models:
        raise ConfigError(f"{at}.model: the {m.source!r} run writes no {m.model!r}; it writes {models}")


def _recipe_path(recipe: str, config: Path) -> Path:
    """A recipe named in a compare config: as given (from the working folder), else relative to the
    repository the config lives in (configs/NAME.yaml -> the folder above configs/)."""
    p = Path(recipe)
    return p if p.exists() else config.resolve().parent.parent / p


def _check_chains(cfg: CompareConfig, source: str, lines: dict[str, int]) -> None:
    """start_from must not loop (A from B from A)."""
    by_name = {m.name: m for m in cfg.methods}
    for i, m in enumerate(cfg.methods):
        seen, link = {m.name}, m.start_from
        while link is not None:
            if link in seen:
                raise ConfigError(
                    f"{where(source, lines, f'methods.{i}.start_from')}: {m.name!r} starts from itself"
                )
            seen.add(link)
            link = by_name[link].start_from


def start_order(methods: list[MethodConfig]) -> list[MethodConfig]:
    """The recipe methods, each after the one it starts from."""
    done: list[MethodConfig] = []
    pending = [m for m in methods if m.recipe is not None]
    while pending:
        ready = [m for m in pending if m.start_from is None or m.start_from in {d.name for d in done}]
        done += ready
        pending = [m for m in pending if m not in ready]
    return done


def _domain_share(train: Any, domain: str) -> tuple[int | None, float]:
    """(items in a recipe's data.train when it says, share of them from `domain`): synthetic sources
    give `n`; in a list (replay: the domain mixed with general items) only the domain's count."""
    sources = train if isinstance(train, list) else [train]
    counts = [s.get("n") if isinstance(s, dict) and isinstance(s.get("n"), int) else None for s in sources]
    if None in counts:
        return None, 1.0 if len(sources) == 1 else 0.0
    total = sum(counts)  # type: ignore[arg-type]
    mine = sum(n for s, n in zip(sources, counts, strict=True) if _is_domain(s, domain))  # type: ignore[misc]
    return total, (mine / total if total else 0.0)


def _is_domain(source: Any, domain: str) -> bool:
    """Whether a recipe's data source is the compare's domain (the same synthetic world, or the same
    path or dataset name)."""
    from currvl.data.sources import SYNTHETIC_PREFIX, parse_synthetic

    if isinstance(source, dict) and "synthetic" in source:
        return domain.startswith(SYNTHETIC_PREFIX) and parse_synthetic(domain)[0] == source["synthetic"]
    return str(source) == domain


def recipe_prompts(recipe, domain: str) -> int | None:
    """Domain prompts a recipe trains on: RL, steps x (global batch / num_generations); SFT, steps x
    global batch (or epochs x items without max_steps) times the domain's share of its data (replay
    mixes in general items). None when the recipe does not say (a dataset of unknown size and no
    max_steps). One process; gradient accumulation counted."""
    from currvl.training.recipe import trainer_settings

    t = trainer_settings(recipe)
    batch = int(t["per_device_train_batch_size"]) * int(t["gradient_accumulation_steps"])
    steps = int(t["max_steps"])
    items, share = _domain_share(recipe.data.train, domain)
    if recipe.method == "sft":
        if steps > 0:
            return round(steps * batch * share)
        return None if items is None else round(float(t["num_train_epochs"]) * items * share)
    if steps <= 0:
        return None
    return round(steps * batch // int(t["num_generations"]) * share)


def method_prompts(cfg: CompareConfig, recipes: dict[str, Any] | None = None) -> dict[str, int | None]:
    """Every method's domain prompts (a start_from method's include its warm start's; a model inside
    another method's run has none of its own: None), from `method_recipes` (loaded when not given)."""
    recipes = method_recipes(cfg) if recipes is None else recipes
    own = {name: recipe_prompts(recipe, cfg.domain) for name, recipe in recipes.items()}
    out: dict[str, int | None] = {}
    for m in start_order(cfg.methods):
        start = out.get(m.start_from) if m.start_from else 0
        out[m.name] = None if own[m.name] is None or start is None else own[m.name] + start
    return {m.name: out.get(m.name) for m in cfg.methods}


def check_budgets(
    cfg: CompareConfig, budget: int, source: str, lines: dict[str, int], recipes: dict[str, Any] | None = None
) -> None:
    """Refuse a compare whose matched methods do not train on about `budget` domain prompts."""
    prompts = method_prompts(cfg, recipes)
    for i, m in enumerate(cfg.methods):
        if m.recipe is None or not m.matched:
            continue
        got = prompts[m.name]
        at = where(source, lines, f"methods.{i}")
        if got is None:
            raise ConfigError(
                f"{at}: {m.name}: cannot count its prompts (no trainer.max_steps and a dataset of unknown "
                "size); set max_steps, or matched: false"
            )
        if abs(got - budget) > cfg.budget_tolerance * budget:
            raise ConfigError(
                f"{at}: {m.name} trains on {got} domain prompts, the budget is {budget} "
                f"(tolerance {cfg.budget_tolerance:.0%}); change its steps, or matched: false"
            )


def select_methods(cfg: CompareConfig, names: list[str]) -> CompareConfig:
    """Only the methods `names` (and those they need: the run a derived model lives in, the warm start
    a method starts from), and the contrasts among them: `currvl compare --methods` reruns a few rows
    of a config. Cached runs and evaluations are shared with the whole config's."""
    known = [m.name for m in cfg.methods]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"{cfg.source}: --methods {unknown}: not methods of this config ({', '.join(known)})"
        )
    by_name = {m.name: m for m in cfg.methods}
    keep: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        m = by_name[name]
        todo += [n for n in (m.source, m.start_from) if n is not None]
    cfg.methods = [m for m in cfg.methods if m.name in keep]
    cfg.contrasts = [pair for pair in cfg.contrasts if set(pair) <= keep]
    return cfg
