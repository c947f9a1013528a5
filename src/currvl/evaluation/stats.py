"""Paired statistics for before/after comparisons on the same probe items.

Two models evaluated on the *same* items differ much less in noise than two independent samples:
item difficulty cancels. A paired bootstrap resamples item indices once and applies the same
indices to both models, so the 95% interval of the delta (and of the retention ratio,
after / before) is as narrow as the data allow. Unpaired Wilson intervals stay in the per-model rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 2000


def paired_scores(
    before_records: Sequence[dict[str, Any]], after_records: Sequence[dict[str, Any]]
) -> tuple[list[float], list[float]]:
    """Per-item scores of the two models on the items both were evaluated on, matched by id.

    Records without ids are matched by position (both lists must then have the same length).
    Raises ValueError when the two evaluations share no item: a paired interval needs pairs.
    """
    if all(r.get("id") is not None for r in (*before_records, *after_records)):
        after_by_id = {r["id"]: r["score"] for r in after_records}
        pairs = [(r["score"], after_by_id[r["id"]]) for r in before_records if r["id"] in after_by_id]
    else:
        if len(before_records) != len(after_records):
            raise ValueError(
                f"records without ids are paired by position, but there are {len(before_records)} "
                f"before and {len(after_records)} after"
            )
        pairs = [(b["score"], a["score"]) for b, a in zip(before_records, after_records, strict=True)]
    if not pairs:
        raise ValueError("the before and after evaluations share no item: nothing to pair")
    return [float(b) for b, _ in pairs], [float(a) for _, a in pairs]


def resample_indices(n: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """(n_resamples, n) item indices drawn with replacement; fixed by `seed` so reports reproduce."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_resamples, n))


def _percentile_interval(values: np.ndarray) -> list[float] | None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def paired_bootstrap(
    before: Sequence[float],
    after: Sequence[float],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    indices: np.ndarray | None = None,
) -> dict[str, Any]:
    """Delta (after - before) and retention (mean after / mean before) with paired 95% intervals.

    Percentile bootstrap over items: each resample draws item indices with replacement and uses
    them for both models. `indices` (shape (R, n)) replaces the random draws, which makes the
    result computable by hand. A resample whose before-mean is 0 has no retention and is left out
    of that interval (retention itself is None when the observed before-mean is 0).
    """
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    if b.shape != a.shape or b.ndim != 1 or b.size == 0:
        raise ValueError(f"need two equally long, non-empty score lists, got {b.shape} and {a.shape}")
    idx = resample_indices(b.size, n_resamples, seed) if indices is None else np.asarray(indices)
    mb, ma = b[idx].mean(axis=1), a[idx].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(mb > 0, ma / np.where(mb > 0, mb, 1.0), np.nan)
    before_mean, after_mean = float(b.mean()), float(a.mean())
    return {
        "n": int(b.size),
        "delta": after_mean - before_mean,
        "delta_ci95": _percentile_interval(ma - mb),
        "retention": after_mean / before_mean if before_mean > 0 else None,
        "retention_ci95": _percentile_interval(ratios),
        "resamples": int(idx.shape[0]),
    }


def excludes(interval: Sequence[float] | None, value: float) -> bool | None:
    """True when `value` lies outside the closed interval (None when there is no interval)."""
    if not interval:
        return None
    lo, hi = interval
    return bool(value < lo or value > hi)
