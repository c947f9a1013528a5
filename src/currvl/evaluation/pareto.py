"""Domain score against general score along training, and retention at a matched domain score.

End points alone compare methods that stopped at different places: SFT that reached 0.86 on the
domain and forgot, RL that reached 0.2 and kept more. The fair question is "at the same domain
score, how much general ability is left?". Each method's checkpoints give a path of
(step, domain, general) points starting at the base model; the general score where a path first
reaches a domain level is read off by linear interpolation between its two neighbouring points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Point = Mapping[str, Any]  # {"step": int, "domain": float, "general": float, ...}


def spread(items: Sequence[Any], k: int) -> list[Any]:
    """At most `k` items, evenly spaced over `items`, the last one always kept (k <= 0: none)."""
    n = len(items)
    if k <= 0 or n == 0:
        return []
    if k >= n:
        return list(items)
    if k == 1:
        return [items[-1]]
    picks = sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in picks]


def general_at_domain(points: Sequence[Point], level: float) -> float | None:
    """The general score where the path (in step order) first reaches domain score `level`.

    Interpolated linearly between the last point below `level` and the first at or above it; None if
    the path never gets there. A path that starts at or above it returns its first general score.
    """
    previous: Point | None = None
    for p in points:
        if p["domain"] >= level:
            if previous is None or p["domain"] == previous["domain"]:
                return float(p["general"])
            t = (level - previous["domain"]) / (p["domain"] - previous["domain"])
            return float(previous["general"] + t * (p["general"] - previous["general"]))
        previous = p
    return None


MIN_GAIN = 0.05  # a run "gains the domain" when its best point is this far above the base


def domain_gainers(
    paths: Mapping[str, Sequence[Point]], base_domain: float, min_gain: float = MIN_GAIN
) -> list[str]:
    """The runs whose path gets at least `min_gain` above the base's domain score somewhere."""
    return [
        name
        for name, path in paths.items()
        if path and max(p["domain"] for p in path) >= base_domain + min_gain
    ]


def matched_domain_level(
    paths: Mapping[str, Sequence[Point]], base_domain: float, min_gain: float = MIN_GAIN
) -> float | None:
    """The highest domain score that every run which gains the domain reaches: the smallest of their
    best scores. Runs that do not gain it are left out (reported as "not reached"); None when fewer
    than two runs gain it."""
    gainers = domain_gainers(paths, base_domain, min_gain)
    if len(gainers) < 2:
        return None
    return min(max(p["domain"] for p in paths[name]) for name in gainers)
