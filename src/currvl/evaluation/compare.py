"""`currvl compare`: one base model, one domain, every method; a table of domain gain against forgetting.

A compare config names the base model, the domain, the probe sizes and a list of methods, each a
recipe (run from the base model) or a model inside another method's run (e.g. Curr-RL = the curriculum
stages of the Curr-ReFT run, before self-improvement). Every run and every evaluation is cached under
the output folder, so an interrupted compare picks up where it stopped; the folder records its base's
weights hash and refuses runs from another base.
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from currvl.algorithms.signals import ZERO_VARIANCE_TASK_KEY
from currvl.evaluation.pareto import domain_gainers, general_at_domain, matched_domain_level, spread
from currvl.training.config_loader import ConfigError, build_config, read_config_file, where
from currvl.training.curriculum import SELF_IMPROVE_FOLDER, training_order

log = logging.getLogger(__name__)


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
ZERO_VARIANCE_WINDOW = 20  # RL steps over which a collapse is judged: the start, before any learning


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


def ensure_base(cfg: CompareConfig) -> Path:
    """The base model folder (`currvl-base` resolves to the one shipped in the package)."""
    from currvl.models.loading import resolve_model_path

    base = Path(resolve_model_path(cfg.base))
    if base.exists() and not (base / "config.json").exists():
        raise FileNotFoundError(
            f"base model {cfg.base}: no config.json there (build one with `currvl model pretrain --out DIR`)"
        )
    return base  # a folder, or a hub id that from_pretrained resolves


BASE_STAMP = "base_model.json"


def base_fingerprint(base: Path) -> str:
    """sha256 of a local base's weight files (a hub id stands for itself): what the cached runs and
    evaluations of an output folder were computed from."""
    files = sorted(base.glob("*.safetensors")) + sorted(base.glob("*.bin")) if base.is_dir() else []
    if not files:
        return str(base)
    digest = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def claim_output_dir(out: Path, base: Path) -> None:
    """Runs and evaluations are cached in `out` by method name; refuse to mix in another base's."""
    stamp = out / BASE_STAMP
    mine = {"base": str(base), "sha256": base_fingerprint(base)}
    if stamp.exists():
        theirs = json.loads(stamp.read_text())
        if theirs["sha256"] != mine["sha256"]:
            raise FileExistsError(
                f"{out} holds runs from another base model ({theirs['base']}, sha256 "
                f"{theirs['sha256'][:12]}), not {base} ({mine['sha256'][:12]}); use a new --out"
            )
        return
    if any((out / d).exists() for d in ("runs", "evals")):
        raise FileExistsError(
            f"{out} holds runs from an unrecorded base model (written before {BASE_STAMP} existed); "
            "use a new --out, or delete its runs/ and evals/ to run from this base"
        )
    stamp.write_text(json.dumps(mine, indent=2))


def _run_method(spec: MethodConfig, cfg: CompareConfig, base: Path, seed: int, out: Path) -> dict[str, Any]:
    """Train one method for one seed (resumable); returns its final model and cost."""
    from currvl.training.recipe import load_recipe
    from currvl.training.run import train

    run_dir = out / "runs" / f"{spec.name}-seed{seed}"
    done = run_dir / "compare_run.json"
    if done.exists():
        return json.loads(done.read_text())
    overrides = {
        "output_dir": str(run_dir),
        "model.name_or_path": str(base),
        "seed": seed,
        **spec.overrides,
    }
    recipe = load_recipe(spec.recipe, overrides)
    t0 = time.perf_counter()
    final = train(recipe, resume=True)
    info = {
        "model": str(final),
        "run_dir": str(run_dir),
        "wall_s": time.perf_counter() - t0,
        "steps": _steps(run_dir),
    }
    done.write_text(json.dumps(info, indent=2))
    return info


def _histories(run_dir: Path, upto: str | None = None) -> list[tuple[Path, list[dict[str, Any]]]]:
    """The run's log histories in training order; `upto` (a top-level folder of the run, e.g.
    "stage1-choice") keeps only the ones written before that folder's model was final."""

    def order(f: Path) -> int:
        return training_order(f.relative_to(run_dir).parts[0])

    files = sorted(run_dir.rglob("log_history.json"), key=lambda f: (order(f), str(f)))
    if upto is not None:
        files = [f for f in files if order(f) <= training_order(upto)]
    return [(f, json.loads(f.read_text())) for f in files]


def _steps(run_dir: Path, upto: str | None = None) -> int:
    total = 0
    for _, history in _histories(run_dir, upto):
        steps = [h["step"] for h in history if "step" in h]
        total += max(steps) if steps else 0
    return total


def _derived(spec: MethodConfig, source_info: dict[str, Any]) -> dict[str, Any]:
    """A model inside another method's run: its cost counts only the runs that produced it."""
    run_dir = Path(source_info["run_dir"])
    model = run_dir / (spec.model or "final")
    if not model.exists():
        raise FileNotFoundError(f"method {spec.name}: {model} does not exist in the {spec.source} run")
    part = model.relative_to(run_dir).parts[0]
    train_s = sum(h.get("train_runtime", 0.0) for _, hist in _histories(run_dir, part) for h in hist)
    return {
        "model": str(model),
        "run_dir": str(run_dir),
        "wall_s": train_s,
        "steps": _steps(run_dir, part),
        "upto": part,  # its curve stops here too
    }


def _evaluate(
    model_dir: str | Path, cfg: CompareConfig, cache: Path, sizes: tuple[int, int] | None = None
) -> dict[str, Any]:
    """Greedy evaluation on the general probe and the domain split (first `sizes` items; default the
    config's full probe sizes), cached."""
    from currvl.evaluation.evaluate import evaluate_model
    from currvl.evaluation.probe import domain_split, probe_sets
    from currvl.models.loading import inference_placement

    if cache.exists():
        return json.loads(cache.read_text())
    general_n, domain_n = sizes or (cfg.general_n, cfg.domain_n)
    sets = probe_sets(cfg.domain, general_n=general_n, domain_n=domain_n)
    if sizes is None and cfg.ood_split:
        sets[OOD_SET] = domain_split(cfg.domain, domain_n, split=cfg.ood_split)
    results = evaluate_model(model_dir, sets, batch_size=32, max_new_tokens=64, **inference_placement())
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(results))
    return results


def domain_floor(cfg: CompareConfig) -> dict[str, Any]:
    """What a domain score must beat, on the same probe items: the chance level where the answers come
    from a small closed set (per category, and over the probe when every category has one) and the
    blind floor (the train split's most common answer to each question, given without the image)."""
    from currvl.evaluation.blind import open_answer_prior
    from currvl.evaluation.premises import closed_answer_sets, open_chance
    from currvl.evaluation.probe import domain_split

    test = domain_split(cfg.domain, cfg.domain_n)
    chance = open_chance(test, closed_answer_sets(cfg.domain))
    per_item = [chance.get(s.get("category") or s["task"]) for s in test]
    overall = None if None in per_item else sum(per_item) / len(per_item)
    try:
        train = domain_split(cfg.domain, cfg.domain_n, split="train")
    except (ValueError, FileNotFoundError):  # no train split to fit the blind answers on
        return {"chance": overall, "chance_categories": chance, "blind_floor": None, "blind_categories": {}}
    floor = open_answer_prior(train, test)
    return {
        "chance": overall,
        "chance_categories": chance,
        "blind_floor": floor["score"],
        "blind_categories": floor["categories"],
    }


def _kl(base: Path, model_dir: str | Path, cfg: CompareConfig, base_results: dict, cache: Path) -> dict:
    """KL(base || tuned) along the base's general-probe completions (cached like the evaluations)."""
    from currvl.evaluation.divergence import general_kl_of
    from currvl.evaluation.probe import general_probe
    from currvl.models.loading import inference_placement

    if cache.exists():
        return json.loads(cache.read_text())
    kl = general_kl_of(
        base, model_dir, general_probe(cfg.general_n), base_results["general"], **inference_placement()
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(kl))
    return kl


def _checkpoint_models(run_dir: Path, upto: str | None) -> list[tuple[int, Path]]:
    """(step counted from the run's start, folder) of every saved checkpoint, in training order;
    `upto` as in `_histories`. A checkpoint sits beside its trainer's log history; curriculum stages
    and self-improvement count on from the steps before them, as `_steps` counts them."""
    found, offset = [], 0
    for f, history in _histories(run_dir, upto):
        steps = {d: d.name.rsplit("-", 1)[1] for d in f.parent.glob("checkpoint-*") if d.is_dir()}
        found += sorted((offset + int(n), d) for d, n in steps.items() if n.isdigit())
        offset += max((h["step"] for h in history if "step" in h), default=0)
    return found


def _curve_probe_is_the_probe(cfg: CompareConfig) -> bool:
    return (cfg.curve_general_n, cfg.curve_domain_n) == (cfg.general_n, cfg.domain_n)


def _path_points(
    info: dict[str, Any], cfg: CompareConfig, out: Path, base_point: dict[str, Any], final: dict[str, Any]
) -> list[dict[str, Any]]:
    """The run's path: the base, up to `cfg.checkpoints` checkpoints, then its model (`final`: its
    evaluation on the full probe), each scored on the curve probe (evaluations cached by run folder,
    so a derived method shares its source's)."""
    run_dir = Path(info["run_dir"])
    total = info["steps"]
    ckpts = spread(
        [c for c in _checkpoint_models(run_dir, info.get("upto")) if c[0] < total], cfg.checkpoints
    )
    sizes = (cfg.curve_general_n, cfg.curve_domain_n)
    points = [base_point]
    for step, model in [*ckpts, (total, Path(info["model"]))]:
        name = "-".join(model.relative_to(run_dir).parts)
        if step == total and _curve_probe_is_the_probe(cfg):
            res = final  # the same items: no second evaluation
        else:
            res = _evaluate(model, cfg, out / "evals" / "curves" / run_dir.name / f"{name}.json", sizes)
        points.append({"step": step, "domain": res["domain"]["score"], "general": res["general"]["score"]})
    return points


def _curve(run_dir: Path, upto: str | None) -> list[dict[str, float]]:
    """Reward and zero-variance fractions over the run's RL steps (stages back to back):
    `zero_variance_task` on the task reward over the policy's own rollouts (the collapse signal) and
    TRL's `frac_reward_zero_std` on the total reward (format included, injected rows counted)."""
    points, offset = [], 0
    for f, hist in _histories(run_dir, upto):
        if SELF_IMPROVE_FOLDER in f.parts:
            continue
        rows = [h for h in hist if "reward" in h and "step" in h]
        for h in rows:
            points.append(
                {
                    "step": offset + h["step"],
                    "reward": h["reward"],
                    "zero_variance_task": h.get(ZERO_VARIANCE_TASK_KEY),
                    "frac_reward_zero_std": h.get("frac_reward_zero_std"),
                }
            )
        if rows:
            offset += max(h["step"] for h in rows)
    return points


def run_compare(cfg: CompareConfig, overwrite: bool = False) -> dict[str, Any]:
    """Run and evaluate every method for every seed; write report.md, report.json and the plots."""
    from currvl.evaluation.forgetting import forgetting_report

    out = Path(cfg.output_dir)
    if (out / "report.json").exists() and not overwrite:
        raise FileExistsError(f"{out / 'report.json'} exists; pass --overwrite to write a new report")
    base = ensure_base(cfg)
    out.mkdir(parents=True, exist_ok=True)
    claim_output_dir(out, base)
    (out / "compare_config.json").write_text(
        json.dumps({k: v for k, v in cfg.__dict__.items() if k != "methods"}, indent=2, default=str)
    )
    base_results = _evaluate(base, cfg, out / "evals" / "base.json")
    curve_sizes = (cfg.curve_general_n, cfg.curve_domain_n)
    base_curve = (
        base_results
        if _curve_probe_is_the_probe(cfg)
        else _evaluate(base, cfg, out / "evals" / "curves" / "base.json", curve_sizes)
    )
    base_point = {
        "step": 0,
        "domain": base_curve["domain"]["score"],
        "general": base_curve["general"]["score"],
    }
    rows: list[dict[str, Any]] = []
    evaluations: dict[int, dict[str, dict[str, Any]]] = {}  # seed -> method -> its evaluation
    for seed in cfg.seeds:
        infos: dict[str, dict[str, Any]] = {}
        for spec in cfg.methods:
            if spec.recipe is not None:
                infos[spec.name] = _run_method(spec, cfg, base, seed, out)
        for spec in cfg.methods:
            if spec.source is not None:
                infos[spec.name] = _derived(spec, infos[spec.source])
        for spec in cfg.methods:
            info = infos[spec.name]
            results = _evaluate(info["model"], cfg, out / "evals" / f"{spec.name}-seed{seed}.json")
            evaluations.setdefault(seed, {})[spec.name] = results
            kl = _kl(
                base, info["model"], cfg, base_results, out / "evals" / f"{spec.name}-seed{seed}.kl.json"
            )
            report = forgetting_report(base_results, results, base_name="base", tuned_name=spec.name, kl=kl)
            rows.append(
                {
                    "method": spec.name,
                    "seed": seed,
                    **report["summary"],
                    "general_categories": {c: r["after"] for c, r in report["general_categories"].items()},
                    "format_leak": _leak_rate(results["general"]),
                    "domain_categories": {c: r["after"] for c, r in report["domain_categories"].items()},
                    **_ood_fields(base_results, results),
                    "wall_s": info["wall_s"],
                    "steps": info["steps"],
                    "model": info["model"],
                    "curve": _curve(Path(info["run_dir"]), info.get("upto")),
                    "path": _path_points(info, cfg, out, base_point, results) if cfg.checkpoints > 0 else [],
                }
            )
    summary = summarize_rows(rows, [m.name for m in cfg.methods])
    base_summary = {
        "domain": base_results["domain"]["score"],
        "general": base_results["general"]["score"],
        "general_categories": _category_scores(base_results["general"]),
        "format_leak": _leak_rate(base_results["general"]),
        "domain_categories": _category_scores(base_results["domain"]),
        "domain_ood": base_results[OOD_SET]["score"] if OOD_SET in base_results else None,
        **domain_floor(cfg),
    }
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "config": cfg.source,
        "seeds": cfg.seeds,
        "general_n": cfg.general_n,
        "domain_n": cfg.domain_n,
        "ood_split": cfg.ood_split,
        "base": base_summary,
        "methods": summary,
        "runs": rows,
        "matched": matched_retention(rows, base_point),
        "contrasts": contrast_rows(evaluations, cfg.contrasts),
    }
    (out / "report.json").write_text(json.dumps(result, indent=2))
    (out / "report.md").write_text(format_report(result))
    plot_scatter(result, out / "domain_vs_general.png")
    plot_curves(rows, out / "training_curves.png")
    return result


CONTRAST_SETS = ("domain", OOD_SET, "general")


def contrast_rows(
    evaluations: dict[int, dict[str, dict[str, Any]]], pairs: list[list[str]]
) -> list[dict[str, Any]]:
    """A - B for each [A, B] pair and seed, on every set both were scored on: the difference of their
    scores and its paired bootstrap 95% interval over the same items (B's evaluation stands where the
    forgetting report puts the base's), then the mean difference over the seeds."""
    from currvl.evaluation.forgetting import compare_sets

    out = []
    for a, b in pairs:
        per_seed = []
        for seed, by_method in sorted(evaluations.items()):
            if a not in by_method or b not in by_method:
                continue
            sets = {}
            for name in CONTRAST_SETS:
                if name in by_method[a] and name in by_method[b]:
                    row = compare_sets(by_method[b][name], by_method[a][name], retention=False)
                    sets[name] = {"delta": row["delta"], "delta_ci95": row.get("delta_ci95")}
            per_seed.append({"seed": seed, "sets": sets})
        means = {
            name: statistics.fmean(p["sets"][name]["delta"] for p in per_seed)
            for name in CONTRAST_SETS
            if per_seed and all(name in p["sets"] for p in per_seed)
        }
        out.append({"a": a, "b": b, "seeds": per_seed, "mean_delta": means})
    return out


def contrast_lines(result: dict[str, Any]) -> list[str]:
    """The report's method-against-method table."""
    contrasts = result.get("contrasts") or []
    if not contrasts:
        return []
    names = {"domain": "domain", OOD_SET: str(result.get("ood_split") or OOD_SET), "general": "general"}
    sets = [n for n in CONTRAST_SETS if any(n in c["mean_delta"] for c in contrasts)]
    lines = [
        "",
        "Method against method: A - B on the same probe items, per seed with its paired bootstrap 95% "
        "interval, and the mean over the seeds:",
        "",
        "| A - B | " + " | ".join(names[n] for n in sets) + " |",
        "|---|" + "---|" * len(sets),
    ]
    for c in contrasts:
        cells = []
        for n in sets:
            seeds = "; ".join(
                f"s{p['seed']} {_interval(p['sets'][n]['delta'], p['sets'][n]['delta_ci95'])}"
                for p in c["seeds"]
                if n in p["sets"]
            )
            mean = c["mean_delta"].get(n)
            cells.append(f"**{mean:+.3f}** ({seeds})" if mean is not None else seeds or "-")
        lines.append(f"| {c['a']} - {c['b']} | " + " | ".join(cells) + " |")
    return lines


def matched_retention(rows: list[dict[str, Any]], base_point: dict[str, Any]) -> dict[str, Any]:
    """Retention at a matched domain score, per run: general score on the curve probe where its path
    first reaches the level every domain-gaining run reaches (`pareto.matched_domain_level`), over
    the base's. Runs of one seed are matched with each other."""
    out: dict[str, Any] = {"base_general": base_point["general"], "seeds": {}}
    for seed in sorted({r["seed"] for r in rows}):
        paths = {r["method"]: r["path"] for r in rows if r["seed"] == seed and r["path"]}
        level = matched_domain_level(paths, base_point["domain"])
        at = {
            name: general_at_domain(path, level) if level is not None else None
            for name, path in paths.items()
        }
        out["seeds"][str(seed)] = {
            "level": level,
            "general": at,
            "retention": {
                n: (g / base_point["general"] if g is not None and base_point["general"] else None)
                for n, g in at.items()
            },
            "best_domain": {name: max(p["domain"] for p in path) for name, path in paths.items()},
            "gaining": domain_gainers(paths, base_point["domain"]),
        }
    return out


def _category_scores(result: dict[str, Any]) -> dict[str, float]:
    return {c: t["score"] for c, t in result["tasks"].items()}


def _ood_fields(base_results: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """The final model on the domain's ood split: score and the paired delta over the base's (the
    forgetting report's row for one set)."""
    from currvl.evaluation.forgetting import compare_sets

    if OOD_SET not in results or OOD_SET not in base_results:
        return {}
    row = compare_sets(base_results[OOD_SET], results[OOD_SET], retention=False)
    return {
        "domain_ood_after": row["after"],
        "domain_ood_delta": row["delta"],
        "domain_ood_delta_ci95": row.get("delta_ci95"),
    }


def _leak_rate(result: dict[str, Any]) -> float | None:
    """Open general questions answered with yes/no or a letter (None for evaluations cached before it)."""
    leak = result.get("format_leak")
    return leak["rate"] if leak else None


def _mean_sd(values: list[float | None]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def summarize_rows(rows: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    """Mean (and standard deviation over seeds when there are several) per method, in config order."""
    out = []
    for name in order:
        mine = [r for r in rows if r["method"] == name]
        entry: dict[str, Any] = {"method": name, "seeds": len(mine)}
        keys = (
            "domain_after",
            "domain_ood_after",
            "general_after",
            "retention",
            "kl_base_tuned",
            "format_leak",
            "wall_s",
            "steps",
        )
        for key in keys:
            mean, sd = _mean_sd([r.get(key) for r in mine])
            entry[key], entry[f"{key}_sd"] = mean, sd
        out.append(entry)
    return out


def _fmt(value: float | None, sd: float | None = None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.{digits}f}"
    return f"{text} ± {sd:.{digits}f}" if sd is not None else text


def _interval(value: float | None, ci: list[float] | None, sign: str = "+") -> str:
    if value is None:
        return "n/a"
    text = f"{value:{sign}.3f}"
    return f"{text} [{ci[0]:{sign}.3f}, {ci[1]:{sign}.3f}]" if ci else text


def format_report(result: dict[str, Any]) -> str:
    b = result["base"]
    lines = [
        f"# Method comparison ({result['date']}, seeds {result['seeds']})",
        "",
        f"Greedy accuracy on held-out splits: domain n={result['domain_n']}, general probe n={result['general_n']}. "
        "Retention = general after / general before. KL = KL(base || tuned) per token along the base's "
        "general-probe completions (RL's Razor forgetting predictor). Leak = share of open general "
        "questions answered with yes/no or an option letter (format leakage of judge/choice training). "
        "Chance = a uniform guess among a category's answers, where they come from a small closed set; blind "
        "floor = the train split's most common answer to each question, given without the image: a domain "
        "score means something only above both.",
        "",
        "| method | domain score | general score | retention | KL (nats/token) | leak | wall time (s) | steps |",
        "|---|---|---|---|---|---|---|---|",
        f"| base | {_fmt(b['domain'])} | {_fmt(b['general'])} | 1.000 | 0 | {_fmt(b.get('format_leak'))} | - | - |",
        f"| *chance* | {_fmt(b.get('chance'))} | | | | | | |",
        f"| *blind floor* | {_fmt(b.get('blind_floor'))} | | | | | | |",
    ]
    for m in result["methods"]:
        lines.append(
            f"| {m['method']} | {_fmt(m['domain_after'], m['domain_after_sd'])} | "
            f"{_fmt(m['general_after'], m['general_after_sd'])} | {_fmt(m['retention'], m['retention_sd'])} | "
            f"{_fmt(m.get('kl_base_tuned'), m.get('kl_base_tuned_sd'), 4)} | "
            f"{_fmt(m.get('format_leak'), m.get('format_leak_sd'))} | "
            f"{_fmt(m['wall_s'], None, 0)} | {_fmt(m['steps'], None, 0)} |"
        )
    lines += ["", "Paired bootstrap 95% intervals per run (same probe items before and after):", ""]
    lines += ["| method | seed | domain delta | general delta | retention |", "|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(
            f"| {r['method']} | {r['seed']} | {_interval(r.get('domain_delta'), r.get('domain_delta_ci95'))} | "
            f"{_interval(r.get('general_delta'), r.get('general_delta_ci95'))} | "
            f"{_interval(r.get('retention'), r.get('retention_ci95'), sign='')} |"
        )
    cats = list(b["general_categories"])
    lines += ["", "General ability per category (after):", ""]
    lines.append("| method | " + " | ".join(cats) + " |")
    lines.append("|---|" + "---|" * len(cats))
    lines.append("| base | " + " | ".join(f"{b['general_categories'][c]:.3f}" for c in cats) + " |")
    for name in [m["method"] for m in result["methods"]]:
        runs = [r for r in result["runs"] if r["method"] == name]
        lines.append(f"| {name} | " + " | ".join(_category_means(runs, "general_categories", cats)) + " |")
    lines += domain_category_lines(result)
    return (
        "\n".join(lines + contrast_lines(result) + zero_variance_lines(result) + _matched_lines(result))
        + "\n"
    )


def _category_means(runs: list[dict[str, Any]], key: str, cats: list[str]) -> list[str]:
    """Each category's score (runs[i][key][category]) as the mean over the runs (seeds), formatted."""
    return [f"{statistics.fmean(r[key].get(c) or 0.0 for r in runs):.3f}" for c in cats]


def domain_category_lines(result: dict[str, Any]) -> list[str]:
    """Domain accuracy per category (after), and the ood split with its paired delta over the base."""
    b = result["base"]
    cats = list(b.get("domain_categories") or {})
    ood = result.get("ood_split") and b.get("domain_ood") is not None
    if not cats:
        return []
    head = ["method", *cats, *([f"{result['ood_split']} (delta over base)"] if ood else [])]
    lines = ["", "Domain accuracy per category (after):", "", "| " + " | ".join(head) + " |"]
    lines.append("|---|" + "---|" * (len(head) - 1))
    base_ood = [_fmt(b["domain_ood"])] if ood else []
    lines.append(
        "| base | " + " | ".join([*(f"{b['domain_categories'][c]:.3f}" for c in cats), *base_ood]) + " |"
    )
    for label, key in (("*chance*", "chance_categories"), ("*blind floor*", "blind_categories")):
        values = b.get(key) or {}
        blank = [""] if ood else []
        lines.append(f"| {label} | " + " | ".join([*(_fmt(values.get(c)) for c in cats), *blank]) + " |")
    for name in [m["method"] for m in result["methods"]]:
        runs = [r for r in result["runs"] if r["method"] == name]
        cells = _category_means(runs, "domain_categories", cats)
        if ood:
            cells.append(
                "; ".join(
                    f"{_fmt(r.get('domain_ood_after'))} "
                    f"({_interval(r.get('domain_ood_delta'), r.get('domain_ood_delta_ci95'))})"
                    for r in runs
                )
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def zero_variance_lines(result: dict[str, Any], window: int = ZERO_VARIANCE_WINDOW) -> list[str]:
    """The report's section on GRPO collapse: the share of groups whose task reward ties over the
    policy's own rollouts (`signal/zero_variance_task`), over the first `window` RL steps and over
    all of them. TRL's `frac_reward_zero_std` is shown beside it, labelled: it counts the format
    reward and injected reference rows, so a run whose task reward never varies can read 0 there."""
    rows = []
    for name in [m["method"] for m in result["methods"]]:
        curves = [r["curve"] for r in result["runs"] if r["method"] == name and r["curve"]]
        if curves:
            steps = round(statistics.fmean(len(c) for c in curves))
            rows.append(
                f"| {name} | {_curve_mean(curves, 'zero_variance_task', window)} "
                f"| {_curve_mean(curves, 'zero_variance_task', None)} "
                f"| {_curve_mean(curves, 'frac_reward_zero_std', window)} | {steps} |"
            )
    if not rows:
        return []
    return [
        "",
        "Zero-variance groups (GRPO collapse): the share of groups whose task reward (format rewards left "
        "out) ties over the policy's own rollouts (injected reference rows left out), mean of the seeds; "
        "TRL's frac_reward_zero_std counts every reward and row, so it under-reports a collapse.",
        "",
        f"| method | task, first {window} RL steps | task, all steps | TRL frac_reward_zero_std, "
        f"first {window} | RL steps |",
        "|---|---|---|---|---|",
        *rows,
    ]


def _curve_mean(curves: list[list[dict[str, Any]]], key: str, upto: int | None) -> str:
    """Mean of `key` over the first `upto` points (all when None) of every curve; "-" when none has it."""
    vals = [p[key] for c in curves for p in c[:upto] if p.get(key) is not None]
    return f"{statistics.fmean(vals):.2f}" if vals else "-"


def _matched_lines(result: dict[str, Any]) -> list[str]:
    """The report's section on retention at a matched domain score (see `matched_retention`)."""
    matched = result.get("matched") or {}
    if not matched.get("seeds"):
        return []
    lines = [
        "",
        "Retention at a matched domain score (domain_vs_general.png draws the paths): each run's checkpoints "
        "scored on the curve probe; the general score where its path first reaches the highest domain score "
        "that every domain-gaining run reaches, over the base's "
        f"({matched['base_general']:.3f}).",
        "",
    ]
    for seed, m in matched["seeds"].items():
        if m["level"] is None:
            gainers = m["gaining"]
            lines.append(
                f"- seed {seed}: no matched level; fewer than two runs gain the domain "
                f"(gaining: {', '.join(gainers) or 'none'})"
            )
            continue
        parts = []
        for name, ret in m["retention"].items():
            best = m["best_domain"][name]
            parts.append(f"{name} {ret:.3f}" if ret is not None else f"{name} not reached (best {best:.3f})")
        lines.append(f"- seed {seed}, domain score {m['level']:.3f}: " + "; ".join(parts))
    return lines


def plot_scatter(result: dict[str, Any], path: Path) -> Path:
    """Each run's end point and its path along training, one colour per method and one marker per
    seed; the right panel zooms on the top band, where "general kept" is decided."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    methods = list(dict.fromkeys(r["method"] for r in result["runs"]))
    seeds = sorted({r["seed"] for r in result["runs"]})
    colours = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    markers = {s: "osD^v<>p*h"[i % 10] for i, s in enumerate(seeds)}
    b = result["base"]
    xs = [b["domain"]] + [r["domain_after"] or 0.0 for r in result["runs"]]
    for ax in axes:
        ax.scatter([b["domain"]], [b["general"]], marker="x", color="black", s=60, zorder=3)
        for r in result["runs"]:
            c = colours[r["method"]]
            ax.scatter(
                [r["domain_after"]], [r["general_after"]], color=c, marker=markers[r["seed"]], zorder=3
            )
            if r.get("path"):  # the way there, on the (smaller) curve probe
                ax.plot(
                    [p["domain"] for p in r["path"]], [p["general"] for p in r["path"]], "--", color=c, lw=0.8
                )
        ax.set_xlim(-0.03, max(0.2, max(xs) + 0.05))  # scores live in [0, 1]; keep 0 visible as 0
        ax.set_xlabel("domain score")
        ax.set_ylabel("general score")
    axes[0].set_ylim(-0.03, 1.05)
    axes[0].set_title("domain gain vs general ability")
    axes[1].set_ylim(0.85, 1.01)
    axes[1].set_title("zoom: general >= 0.85 (dashed: along training)")
    handles = [axes[0].scatter([], [], marker="x", color="black", label="base")]
    handles += [axes[0].scatter([], [], color=colours[m], label=m) for m in methods]
    if len(seeds) > 1:
        handles += [
            axes[0].scatter([], [], color="grey", marker=markers[s], label=f"seed {s}") for s in seeds
        ]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08 + 0.04 * (len(handles) > 6), 1, 1))
    fig.savefig(path, dpi=100)
    return path


def plot_curves(rows: list[dict[str, Any]], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    plotted: dict[str, list[str]] = {}  # a derived method shares its source's RL steps: one line, both names
    for r in rows:
        if r["curve"]:
            plotted.setdefault(json.dumps(r["curve"]), []).append(f"{r['method']} (seed {r['seed']})")
    for r in rows:
        names = plotted.pop(json.dumps(r["curve"]), None) if r["curve"] else None
        if not names:
            continue
        label = " = ".join(names)
        steps = [p["step"] for p in r["curve"]]
        axes[0].plot(steps, [p["reward"] for p in r["curve"]], label=label)
        task = [p.get("zero_variance_task") for p in r["curve"]]
        axes[1].plot(steps, [float("nan") if v is None else v for v in task], label=label)
    axes[0].set_title("reward")
    axes[1].set_title("zero-variance groups, task reward (own rollouts)")
    for ax in axes:
        ax.set_xlabel("RL step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
