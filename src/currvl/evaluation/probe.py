"""The sample sets a forgetting report is measured on: a general-ability probe and the domain's held-out split.

The probe is the synthetic general suite's *test* split (colour, shape, count, position and text-only
arithmetic), which no recipe trains on, so a drop there after domain tuning is forgetting, not a
train/test mix-up. Sample ``i`` of a split never depends on how many are asked for, so two runs with
different N share their first samples.
"""

from __future__ import annotations

from typing import Any

GENERAL_WORLD = "general"
DEFAULT_GENERAL_N = 1000
DEFAULT_DOMAIN_N = 500


def general_probe(n: int = DEFAULT_GENERAL_N, seed: int = 0) -> list[dict[str, Any]]:
    """The first `n` samples of the synthetic general suite's held-out test split.

    Categories are interleaved, so any n >= 5 covers every general ability, the text-only
    arithmetic items included.
    """
    from currvl.data.synthetic import make_samples

    if n < 1:
        raise ValueError(f"the general probe needs at least 1 sample, got n={n}")
    return make_samples(GENERAL_WORLD, "test", n, seed=seed)


def domain_split(
    source: str,
    n: int | None = DEFAULT_DOMAIN_N,
    *,
    split: str = "test",
    image_root: str | None = None,
) -> list[dict[str, Any]]:
    """The domain's held-out samples from `source`, cut to the first `n` (all of them when n is None).

    `source` is anything `currvl.data.sources.load_source` reads (a .jsonl file, a folder with
    SPLIT.jsonl, a HF dataset, "synthetic:WORLD:N"); "synthetic:WORLD" without a count takes `n`
    samples, so `--domain synthetic:scan --domain-n 50` works.
    """
    from currvl.data.sources import load_source

    if n is not None and n < 1:
        raise ValueError(f"the domain split needs at least 1 sample, got n={n}")
    synthetic_n = n if n is not None else DEFAULT_DOMAIN_N
    samples = load_source(source, image_root=image_root, split=split, synthetic_n=synthetic_n)
    if not samples:
        raise ValueError(f"domain source {source!r} has no samples in split {split!r}")
    return samples if n is None else samples[:n]


def probe_sets(
    domain: str | None = None,
    *,
    general_n: int = DEFAULT_GENERAL_N,
    domain_n: int | None = DEFAULT_DOMAIN_N,
    seed: int = 0,
    split: str = "test",
    image_root: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """{"general": probe, "domain": held-out split} (no "domain" key without a domain source).

    These are the names `forgetting_report` reads from each model's results.
    """
    sets = {"general": general_probe(general_n, seed=seed)}
    if domain:
        sets["domain"] = domain_split(domain, domain_n, split=split, image_root=image_root)
    return sets
