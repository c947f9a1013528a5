"""A compare's statistics: per-method means over seeds, method-against-method paired contrasts, and
along each run's path: retention at a matched domain score, the general score at another method's
domain score, and the domain score at matched retention."""

from __future__ import annotations

import functools
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from currvl.evaluation.pareto import domain_gainers, general_at_domain, matched_domain_level
from currvl.experiments.compare.config import OOD_SET

CONTRAST_SETS = ("domain", OOD_SET, "general")


def _paired(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """after - before over the same items, with its paired bootstrap 95% interval."""
    from currvl.evaluation.forgetting import compare_sets

    row = compare_sets(before, after, retention=False)
    return {"delta": row["delta"], "delta_ci95": row.get("delta_ci95")}


def _set_reader(name: str) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """Reads one set ("general", "domain") of a path point's evaluation file ("eval"), each file once:
    a final point serves every pair it is in. None where the point names no file or it is missing."""

    @functools.cache
    def read(path: str) -> dict[str, Any] | None:
        return json.loads(Path(path).read_text())[name] if Path(path).exists() else None

    return lambda point: read(point["eval"]) if point.get("eval") else None


def contrast_rows(
    evaluations: dict[int, dict[str, dict[str, Any]]], pairs: list[list[str]]
) -> list[dict[str, Any]]:
    """A - B for each [A, B] pair and seed, on every set both were scored on: the difference of their
    scores and its paired bootstrap 95% interval over the same items (B's evaluation stands where the
    forgetting report puts the base's), then the mean difference over the seeds."""
    out = []
    for a, b in pairs:
        per_seed = []
        for seed, by_method in sorted(evaluations.items()):
            if a not in by_method or b not in by_method:
                continue
            sets = {
                name: _paired(by_method[b][name], by_method[a][name])
                for name in CONTRAST_SETS
                if name in by_method[a] and name in by_method[b]
            }
            per_seed.append({"seed": seed, "sets": sets})
        means = {
            name: statistics.fmean(p["sets"][name]["delta"] for p in per_seed)
            for name in CONTRAST_SETS
            if per_seed and all(name in p["sets"] for p in per_seed)
        }
        out.append({"a": a, "b": b, "seeds": per_seed, "mean_delta": means})
    return out


def frontier_contrasts(rows: list[dict[str, Any]], pairs: list[list[str]]) -> list[dict[str, Any]]:
    """General score at A's domain score, for each [A, B] pair and seed: B's first point along its path
    (curve probe) whose domain score reaches A's final one, against A's final point, as the paired
    difference B - A over the same general items with its bootstrap 95% interval. Where B never gets
    there, its best domain score is given instead."""

    def run(method: str, seed: int) -> dict[str, Any] | None:
        return next((r for r in rows if r["method"] == method and r["seed"] == seed and r.get("path")), None)

    general_of = _set_reader("general")

    out = []
    for a, b in pairs:
        per_seed = []
        for seed in sorted({r["seed"] for r in rows}):
            ra, rb = run(a, seed), run(b, seed)
            if ra is None or rb is None or ra["path"][-1]["domain"] <= ra["path"][0]["domain"]:
                continue  # A gained nothing: there is no level to match
            pa = ra["path"][-1]
            pb = next((p for p in rb["path"] if p["domain"] >= pa["domain"]), None)
            entry: dict[str, Any] = {
                "seed": seed,
                "level": pa["domain"],
                "a_general": pa["general"],
                "b_best_domain": max(p["domain"] for p in rb["path"]),
                "b_step": pb["step"] if pb else None,
                "b_domain": pb["domain"] if pb else None,
                "b_general": pb["general"] if pb else None,
            }
            ga, gb = general_of(pa), (general_of(pb) if pb else None)
            if ga is not None and gb is not None:
                entry |= _paired(ga, gb)
            per_seed.append(entry)
        out.append({"a": a, "b": b, "seeds": per_seed})
    return out


MATCHED_RETENTION = 0.95
"""The retention at which `domain_at_retention` reads each run (issue 31's bar: retention >= 0.95)."""


def domain_at_retention(
    rows: list[dict[str, Any]],
    base_point: dict[str, Any],
    pairs: list[list[str]],
    retention: float = MATCHED_RETENTION,
) -> dict[str, Any]:
    """Domain score at matched retention (the frontier read the other way from `frontier_contrasts`):
    per run, the point of its path (curve probe) with the highest domain score among those keeping
    >= `retention` of the base's general score (the base itself always qualifies, so a run that only
    gains by forgetting scores the base's domain); per method the mean over seeds; per [A, B] pair and
    seed, A's point against B's as the paired difference A - B over the same domain items, with its
    bootstrap 95% interval (where both points name an evaluation file)."""
    base_general = base_point["general"]
    points: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:
        kept = [p for p in r.get("path") or [] if base_general and p["general"] / base_general >= retention]
        if kept:
            best = max(kept, key=lambda p: (p["domain"], -p["step"]))  # the earliest of equal scores
            points[(r["method"], r["seed"])] = best

    domain_of = _set_reader("domain")
    runs: dict[str, dict[str, Any]] = {}
    for (method, seed), p in points.items():
        runs.setdefault(method, {})[str(seed)] = {
            "step": p["step"],
            "domain": p["domain"],
            "retention": p["general"] / base_general,
        }
    means = {m: statistics.fmean(v["domain"] for v in by_seed.values()) for m, by_seed in runs.items()}
    contrasts = []
    for a, b in pairs:
        per_seed = []
        for seed in sorted({r["seed"] for r in rows}):
            pa, pb = points.get((a, seed)), points.get((b, seed))
            if pa is None or pb is None:
                continue
            entry: dict[str, Any] = {"seed": seed, "a_domain": pa["domain"], "b_domain": pb["domain"]}
            da, db = domain_of(pa), domain_of(pb)
            if da is not None and db is not None:
                entry |= _paired(db, da)
            per_seed.append(entry)
        contrasts.append({"a": a, "b": b, "seeds": per_seed})
    return {"retention": retention, "runs": runs, "mean_domain": means, "contrasts": contrasts}


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
            "prompts",
        )
        for key in keys:
            mean, sd = _mean_sd([r.get(key) for r in mine])
            entry[key], entry[f"{key}_sd"] = mean, sd
        out.append(entry)
    return out
