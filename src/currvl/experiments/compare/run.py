"""`currvl compare`'s run: train every method for every seed from one base, evaluate, write the report.

Every run and every evaluation is cached under the output folder, so an interrupted compare picks up
where it stopped; the folder records its base's weights hash and refuses runs from another base. A
method is a recipe run from the base, or a model inside another method's run (e.g. Curr-RL = the
curriculum stages of the Curr-ReFT run, before self-improvement).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from currvl.algorithms.signals import ZERO_VARIANCE_TASK_KEY
from currvl.evaluation.pareto import spread
from currvl.experiments.compare.config import (
    OOD_SET,
    CompareConfig,
    MethodConfig,
    method_prompts,
    start_order,
)
from currvl.experiments.compare.plots import plot_curves, plot_scatter
from currvl.experiments.compare.report import format_report
from currvl.experiments.compare.stats import (
    contrast_rows,
    domain_at_retention,
    frontier_contrasts,
    matched_retention,
    summarize_rows,
)
from currvl.training.curriculum import SELF_IMPROVE_FOLDER, training_order


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


def _run_method(
    spec: MethodConfig,
    cfg: CompareConfig,
    base: Path,
    seed: int,
    out: Path,
    start: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one method for one seed (resumable) from the base, or from `start` (the run info of the
    method it starts from); returns its final model and cost (a warm start's counted in)."""
    from currvl.training.recipe import load_recipe
    from currvl.training.run import train

    run_dir = out / "runs" / f"{spec.name}-seed{seed}"
    done = run_dir / "compare_run.json"
    if done.exists():
        return json.loads(done.read_text())
    overrides = {
        "output_dir": str(run_dir),
        "model.name_or_path": str(start["model"]) if start else str(base),
        "seed": seed,
        **spec.overrides,
    }
    recipe = load_recipe(spec.recipe, overrides)
    t0 = time.perf_counter()
    final = train(recipe, resume=True)
    info = {
        "model": str(final),
        "run_dir": str(run_dir),
        "wall_s": time.perf_counter() - t0 + (start["wall_s"] if start else 0.0),
        "steps": _steps(run_dir) + (start["steps"] if start else 0),
    }
    if start:
        info["start_from"] = {"model": start["model"], "steps": start["steps"]}
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
    info: dict[str, Any],
    cfg: CompareConfig,
    out: Path,
    base_point: dict[str, Any],
    final: dict[str, Any],
    final_cache: Path,
) -> list[dict[str, Any]]:
    """The run's path: the base, up to `cfg.checkpoints` checkpoints, then its model (`final`: its
    evaluation on the full probe, cached at `final_cache`), each scored on the curve probe (evaluations
    cached by run folder, so a derived method shares its source's). Each point past the base names its
    evaluation file ("eval"), whose records the frontier contrasts pair."""
    run_dir = Path(info["run_dir"])
    total = info["steps"]
    offset = info.get("start_from", {}).get("steps", 0)  # a warm start's steps came first
    ckpts = spread(
        [c for c in _checkpoint_models(run_dir, info.get("upto")) if c[0] < total - offset], cfg.checkpoints
    )
    sizes = (cfg.curve_general_n, cfg.curve_domain_n)
    points = [base_point]
    for step, model in [*((offset + k, m) for k, m in ckpts), (total, Path(info["model"]))]:
        name = "-".join(model.relative_to(run_dir).parts)
        if step == total and _curve_probe_is_the_probe(cfg):
            res, cache = final, final_cache  # the same items: no second evaluation
        else:
            cache = out / "evals" / "curves" / run_dir.name / f"{name}.json"
            res = _evaluate(model, cfg, cache, sizes)
        points.append(
            {
                "step": step,
                "domain": res["domain"]["score"],
                "general": res["general"]["score"],
                "eval": str(cache),
            }
        )
    return points


def _join_warm_start_paths(rows: list[dict[str, Any]], cfg: CompareConfig) -> None:
    """A start_from run's path goes through its warm start's: that path, then its own checkpoints."""
    starts = {m.name: m.start_from for m in cfg.methods if m.start_from}
    by_key = {(r["method"], r["seed"]): r for r in rows}
    for row in rows:
        source = by_key.get((starts.get(row["method"]), row["seed"]))
        if source and source["path"] and row["path"]:
            row["path"] = source["path"] + row["path"][1:]


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
    if _curve_probe_is_the_probe(cfg):
        base_curve, base_curve_cache = base_results, out / "evals" / "base.json"
    else:
        base_curve_cache = out / "evals" / "curves" / "base.json"
        base_curve = _evaluate(base, cfg, base_curve_cache, curve_sizes)
    base_point = {
        "step": 0,
        "domain": base_curve["domain"]["score"],
        "general": base_curve["general"]["score"],
        "eval": str(base_curve_cache),  # a run whose best point at matched retention is the base pairs it
    }
    rows: list[dict[str, Any]] = []
    prompts = method_prompts(cfg)
    evaluations: dict[int, dict[str, dict[str, Any]]] = {}  # seed -> method -> its evaluation
    for seed in cfg.seeds:
        infos: dict[str, dict[str, Any]] = {}
        for spec in start_order(cfg.methods):
            start = infos[spec.start_from] if spec.start_from else None
            infos[spec.name] = _run_method(spec, cfg, base, seed, out, start)
        for spec in cfg.methods:
            if spec.source is not None:
                infos[spec.name] = _derived(spec, infos[spec.source])
        for spec in cfg.methods:
            info = infos[spec.name]
            final_cache = out / "evals" / f"{spec.name}-seed{seed}.json"
            results = _evaluate(info["model"], cfg, final_cache)
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
                    "prompts": prompts[spec.name],
                    "model": info["model"],
                    "curve": _curve(Path(info["run_dir"]), info.get("upto")),
                    "path": (
                        _path_points(info, cfg, out, base_point, results, final_cache)
                        if cfg.checkpoints > 0
                        else []
                    ),
                }
            )
    _join_warm_start_paths(rows, cfg)
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
        "frontier": frontier_contrasts(rows, cfg.contrasts),
        "at_retention": domain_at_retention(rows, base_point, cfg.contrasts),
    }
    (out / "report.json").write_text(json.dumps(result, indent=2))
    (out / "report.md").write_text(format_report(result))
    plot_scatter(result, out / "domain_vs_general.png")
    plot_curves(rows, out / "training_curves.png")
    return result


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


def run_compare_file(
    path: str | Path,
    quick: bool = False,
    seeds: list[int] | None = None,
    output_dir: str | None = None,
    base: str | None = None,
    overwrite: bool = False,
    methods: list[str] | None = None,
) -> Path:
    """`currvl compare`: load the config (with the command line's overrides), run it (only `methods`
    and what they need, when given), return report.md."""
    from currvl.experiments.compare.config import load_compare_config, select_methods

    cfg = load_compare_config(path, quick=quick)
    if methods:
        cfg = select_methods(cfg, methods)
    cfg.seeds = seeds or cfg.seeds
    cfg.output_dir = output_dir or cfg.output_dir
    cfg.base = base or cfg.base
    run_compare(cfg, overwrite=overwrite)
    return Path(cfg.output_dir) / "report.md"
