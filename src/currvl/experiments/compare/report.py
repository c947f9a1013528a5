"""A compare's report.md: the table of domain gain against forgetting, chance and blind floor beside
every domain score, the paired intervals, the contrasts, the collapse section and matched retention."""

from __future__ import annotations

import statistics
from typing import Any

from currvl.experiments.compare.config import OOD_SET
from currvl.experiments.compare.stats import CONTRAST_SETS

ZERO_VARIANCE_WINDOW = 20  # RL steps over which a collapse is judged: the start, before any learning


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
        "score means something only above both. Domain prompts = the prompts (RL) or items (SFT) a method "
        "trained on, counted from its recipe (a warm start's included; n/a: a model inside another run).",
        "",
        "| method | domain score | general score | retention | KL (nats/token) | leak | wall time (s) | steps "
        "| domain prompts |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| base | {_fmt(b['domain'])} | {_fmt(b['general'])} | 1.000 | 0 | {_fmt(b.get('format_leak'))} | - | - "
        "| - |",
        f"| *chance* | {_fmt(b.get('chance'))} | | | | | | | |",
        f"| *blind floor* | {_fmt(b.get('blind_floor'))} | | | | | | | |",
    ]
    for m in result["methods"]:
        lines.append(
            f"| {m['method']} | {_fmt(m['domain_after'], m['domain_after_sd'])} | "
            f"{_fmt(m['general_after'], m['general_after_sd'])} | {_fmt(m['retention'], m['retention_sd'])} | "
            f"{_fmt(m.get('kl_base_tuned'), m.get('kl_base_tuned_sd'), 4)} | "
            f"{_fmt(m.get('format_leak'), m.get('format_leak_sd'))} | "
            f"{_fmt(m['wall_s'], None, 0)} | {_fmt(m['steps'], None, 0)} | {_fmt(m.get('prompts'), None, 0)} |"
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
        "\n".join(
            lines
            + contrast_lines(result)
            + zero_variance_lines(result)
            + _matched_lines(result)
            + _frontier_lines(result)
            + _at_retention_lines(result)
        )
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


def _frontier_lines(result: dict[str, Any]) -> list[str]:
    """The report's section on each contrast read on the frontier (see `stats.frontier_contrasts`)."""
    entries = [c for c in result.get("frontier") or [] if c["seeds"]]
    if not entries:
        return []
    lines = [
        "",
        "General score at A's domain score (the frontier): B's first checkpoint whose domain score reaches "
        "A's final one, against A's final model, on the curve probe; B - A paired over the same general "
        "items, bootstrap 95% interval.",
        "",
    ]
    for c in entries:
        parts = []
        for e in c["seeds"]:
            if e["b_general"] is None:
                parts.append(
                    f"s{e['seed']} at {e['level']:.3f}: B never gets there (best {e['b_best_domain']:.3f})"
                )
                continue
            delta = (
                f", B - A {_interval(e['delta'], e.get('delta_ci95'))}" if e.get("delta") is not None else ""
            )
            parts.append(
                f"s{e['seed']} at {e['level']:.3f}: A {e['a_general']:.3f}, B {e['b_general']:.3f} "
                f"(step {e['b_step']}, domain {e['b_domain']:.3f}){delta}"
            )
        lines.append(f"- {c['b']} at {c['a']}'s domain score: " + "; ".join(parts))
    return lines


def _at_retention_lines(result: dict[str, Any]) -> list[str]:
    """The report's section on the domain score at matched retention (see `stats.domain_at_retention`)."""
    at = result.get("at_retention") or {}
    if not at.get("runs"):
        return []
    lines = [
        "",
        f"Domain score at retention >= {at['retention']:.2f} (the frontier read the other way): each run's "
        "highest domain score along its path (curve probe) at a point keeping that share of the base's "
        "general score (the base itself counts: a run that gains only by forgetting scores the base's "
        "domain); mean over seeds, then per seed with the step.",
        "",
    ]
    for method, by_seed in at["runs"].items():
        seeds = "; ".join(f"s{s} {v['domain']:.3f} (step {v['step']})" for s, v in by_seed.items())
        lines.append(f"- {method}: {at['mean_domain'][method]:.3f} ({seeds})")
    for c in at.get("contrasts") or []:
        parts = []
        for e in c["seeds"]:
            delta = f" {_interval(e['delta'], e.get('delta_ci95'))}" if e.get("delta") is not None else ""
            parts.append(f"s{e['seed']}{delta} ({e['a_domain']:.3f} vs {e['b_domain']:.3f})")
        if parts:
            lines.append(f"- {c['a']} - {c['b']} at retention >= {at['retention']:.2f}: " + "; ".join(parts))
    return lines


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
