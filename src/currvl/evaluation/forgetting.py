"""Forgetting report: did domain tuning gain the domain, and which general abilities did it cost?

Input is, per model, the evaluation results by suite name, ``{"general": result, "domain": result}``
(results as `currvl.evaluation.evaluate` returns them, or parsed from lmms-eval by
`currvl.evaluation.lmms_eval`; "domain" is optional). The report puts base and tuned side by side:
domain and general score before/after, their deltas, the retention ratio (general after / general
before) and the same per general category, because an average can hide one ability lost outright.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from currvl.evaluation.stats import excludes, paired_bootstrap, paired_scores

REPORT_FILES = ("forgetting.json", "forgetting.png", "forgetting.md")


def retention_ratio(before: float | None, after: float | None) -> float | None:
    """after / before; None when undefined (a missing score, or nothing to retain: before <= 0)."""
    if before is None or after is None or before <= 0:
        return None
    return after / before


def _cis_disjoint(a: list[float] | None, b: list[float] | None) -> bool | None:
    """True when two 95% intervals do not overlap (a conservative 'this change is not noise')."""
    if not a or not b:
        return None
    return a[1] < b[0] or b[1] < a[0]


def _paired(records: tuple[list, list] | None, retention: bool) -> dict[str, Any]:
    """Paired-bootstrap fields of a row, or {} when there are no matched records."""
    if not records or not records[0] or not records[1]:
        return {}
    try:
        before, after = paired_scores(*records)
    except ValueError:
        return {}
    boot = paired_bootstrap(before, after)
    out = {"n_paired": boot["n"], "delta_ci95": boot["delta_ci95"]}
    if retention:
        out["retention_ci95"] = boot["retention_ci95"]
    return out


def _compare(
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    retention: bool,
    records: tuple[list, list] | None = None,
) -> dict:
    """One row: before/after score, delta, counts, CIs (and retention for general abilities).

    `records` (before's and after's per-item records of this row) adds the paired intervals.
    """
    b = before.get("score") if before else None
    a = after.get("score") if after else None
    row: dict[str, Any] = {
        "before": b,
        "after": a,
        "delta": a - b if a is not None and b is not None else None,
        "n_before": before.get("n") if before else None,
        "n_after": after.get("n") if after else None,
        "ci95_before": before.get("ci95") if before else None,
        "ci95_after": after.get("ci95") if after else None,
    }
    if retention:
        row["retention"] = retention_ratio(b, a)
    row.update(_paired(records, retention))
    if row.get("delta_ci95"):
        row["significant"] = excludes(row["delta_ci95"], 0.0)
    else:
        row["significant"] = _cis_disjoint(row["ci95_before"], row["ci95_after"])
    metric = (before or {}).get("metric") or (after or {}).get("metric")
    if metric:
        row["metric"] = metric
    return row


def _categories(before: dict[str, Any] | None, after: dict[str, Any] | None, *, retention: bool) -> dict:
    """Per-category rows over the union of both models' categories (a missing one reads None)."""
    b_tasks = (before or {}).get("tasks") or {}
    a_tasks = (after or {}).get("tasks") or {}
    names = list(b_tasks) + [c for c in a_tasks if c not in b_tasks]

    def records(c: str) -> tuple[list, list]:
        return tuple(  # type: ignore[return-value]
            [r for r in (res or {}).get("records", []) if (r.get("category") or r.get("task")) == c]
            for res in (before, after)
        )

    return {
        c: _compare(b_tasks.get(c), a_tasks.get(c), retention=retention, records=records(c)) for c in names
    }


def _all_records(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[list, list]:
    return ((before or {}).get("records") or [], (after or {}).get("records") or [])


def compare_sets(before: dict[str, Any] | None, after: dict[str, Any] | None, *, retention: bool) -> dict:
    """One set's row (score before/after, delta, paired intervals over all its items; see `_compare`)."""
    return _compare(before, after, retention=retention, records=_all_records(before, after))


def forgetting_report(
    base_results: dict[str, dict[str, Any]],
    tuned_results: dict[str, dict[str, Any]],
    *,
    base_name: str = "base",
    tuned_name: str = "tuned",
    kl: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare base and tuned results ({"general": ..., "domain": ...} each); see the module doc.

    Returns a JSON-ready dict: "summary" (the flat numbers a comparison table needs), "domain",
    "general" and per-category rows with before/after/delta/n/ci95, "retention" where it applies,
    paired "delta_ci95"/"retention_ci95" when records match, "significant", "forgotten" (general
    categories with a significant drop, worst first), "kl" (`currvl.evaluation.divergence` output,
    when given) and "notes" (why a number is missing).
    """
    for name, results in (("base", base_results), ("tuned", tuned_results)):
        if "general" not in results:
            raise ValueError(f"{name} results have no 'general' suite (keys: {', '.join(results) or 'none'})")
    general = compare_sets(base_results["general"], tuned_results["general"], retention=True)
    has_domain = "domain" in base_results or "domain" in tuned_results
    domain = (
        compare_sets(base_results.get("domain"), tuned_results.get("domain"), retention=False)
        if has_domain
        else None
    )
    general_cats = _categories(base_results["general"], tuned_results["general"], retention=True)
    domain_cats = (
        _categories(base_results.get("domain"), tuned_results.get("domain"), retention=False)
        if has_domain
        else {}
    )
    notes = []
    if general["before"] is not None and general["before"] <= 0:
        notes.append("the base model scores 0 on the general probe: retention is undefined (null)")
    if domain is None:
        notes.append("no domain set was evaluated: only general ability is reported")
    forgotten = sorted(
        (c for c, row in general_cats.items() if row["significant"] and (row["delta"] or 0) < 0),
        key=lambda c: general_cats[c]["delta"],
    )
    return {
        "base": base_name,
        "tuned": tuned_name,
        "summary": {
            "domain_before": domain["before"] if domain else None,
            "domain_after": domain["after"] if domain else None,
            "domain_delta": domain["delta"] if domain else None,
            "general_before": general["before"],
            "general_after": general["after"],
            "general_delta": general["delta"],
            "retention": general["retention"],
            "retention_ci95": general.get("retention_ci95"),
            "general_delta_ci95": general.get("delta_ci95"),
            "domain_delta_ci95": domain.get("delta_ci95") if domain else None,
            "kl_base_tuned": kl.get("kl_per_token") if kl else None,
        },
        "kl": kl,
        "domain": domain,
        "general": general,
        "domain_categories": domain_cats,
        "general_categories": general_cats,
        "forgotten": forgotten,
        "notes": notes,
    }


# ----------------------------------------------------------------------------------------------
# rendering


def _num(value: float | None, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _n(row: dict[str, Any]) -> str:
    nb, na = row.get("n_before"), row.get("n_after")
    if nb is None and na is None:
        return "-"
    return str(nb if nb == na or na is None else na if nb is None else f"{nb}/{na}")


def _rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """(label, row, is_category) in display order: domain, its categories, general, its categories."""
    rows: list[tuple[str, dict[str, Any], bool]] = []
    if report.get("domain"):
        rows.append(("domain", report["domain"], False))
        rows += [(c, r, True) for c, r in report.get("domain_categories", {}).items()]
    rows.append(("general", report["general"], False))
    rows += [(c, r, True) for c, r in report.get("general_categories", {}).items()]
    return rows


def _title(report: dict[str, Any]) -> str:
    retention = report["summary"]["retention"]
    kept = "n/a" if retention is None else f"{retention:.3f}"
    return f"forgetting report: {report['base']} -> {report['tuned']} (general retention {kept})"


def _ci(interval: list[float] | None, signed: bool = False) -> str:
    if not interval:
        return "-"
    return f"[{_num(interval[0], signed)}, {_num(interval[1], signed)}]"


def _cells(row: dict[str, Any]) -> list[str]:
    """before, after, delta (+ its paired CI), retention (+ its paired CI), n: one row of either table."""
    retention = row.get("retention")
    ret = "-" if "retention" not in row else ("n/a" if retention is None else f"{retention:.3f}")
    return [
        _num(row["before"]),
        _num(row["after"]),
        _num(row["delta"], signed=True) + (" *" if row.get("significant") else ""),
        _ci(row.get("delta_ci95"), signed=True),
        ret,
        _ci(row.get("retention_ci95")) if "retention" in row else "-",
        _n(row),
    ]


_HEADER = ["before", "after", "delta", "delta 95% CI", "retention", "retention 95% CI", "n"]


def _footer(report: dict[str, Any]) -> list[str]:
    rows = [r for _, r, _ in _rows(report)]
    rule = (
        "the paired bootstrap 95% interval of the delta excludes 0"
        if any(r.get("delta_ci95") for r in rows)
        else "the 95% intervals before and after do not overlap (unpaired)"
    )
    starred = any(r.get("significant") for r in rows)
    lines = [f"* significant: {rule}" if starred else f"no significant change (significant: {rule})"]
    kl = report.get("kl")
    if kl and kl.get("kl_per_token") is not None:
        lines.append(
            f"KL(base || tuned) on general-probe prompts: {kl['kl_per_token']:.4f} nats/token, "
            f"{kl['kl_per_sequence']:.3f} nats/completion ({kl['sequences']} completions, {kl['tokens']} tokens)"
        )
    if report.get("forgotten"):
        lines.append("forgotten (significant drop): " + ", ".join(report["forgotten"]))
    return lines + [f"note: {note}" for note in report.get("notes", [])]


def format_table(report: dict[str, Any]) -> str:
    """A fixed-width text table for the terminal; '*' marks a significant change (see the footer)."""
    rows = _rows(report)
    width = max(12, *(len(label) + (2 if cat else 0) for label, _, cat in rows))
    body = [[f"  {label}" if cat else label, *_cells(row)] for label, row, cat in rows]
    widths = [width] + [max(len(h), *(len(b[i + 1]) for b in body)) for i, h in enumerate(_HEADER)]
    header = "  ".join([" " * width] + [h.rjust(w) for h, w in zip(_HEADER, widths[1:], strict=True)])
    lines = [_title(report), header, "-" * len(header)]
    for cells in body:
        lines.append(
            "  ".join(
                [cells[0].ljust(width)] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
            )
        )
    return "\n".join(lines + _footer(report))


def format_markdown(report: dict[str, Any]) -> str:
    """The same table as Markdown, for forgetting.md and READMEs."""
    lines = [
        f"# {_title(report)}",
        "",
        "| suite / category | " + " | ".join(_HEADER) + " |",
        "|---|" + "---:|" * len(_HEADER),
    ]
    suite = ""
    for label, row, is_cat in _rows(report):
        if not is_cat:
            suite = label
        name = f"{suite} / {label}" if is_cat else f"**{label}**"
        cells = [c.replace("*", "\\*") for c in _cells(row)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return (
        "\n".join([*lines, "", *(f"{line}." if line[-1] != "." else line for line in _footer(report))]) + "\n"
    )


def plot_forgetting(report: dict[str, Any], path: str | Path) -> Path:
    """Before/after bars per general category, plus the general and domain totals, as a PNG.

    Uses matplotlib's object API on an Agg canvas, so it never touches pyplot's global backend
    and works on machines without a display.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups: list[tuple[str, dict[str, Any]]] = []
    if report.get("domain"):
        groups.append(("domain (all)", report["domain"]))
    groups.append(("general (all)", report["general"]))
    groups += list(report.get("general_categories", {}).items())
    labels = [g for g, _ in groups]
    before = [r["before"] if r["before"] is not None else 0.0 for _, r in groups]
    after = [r["after"] if r["after"] is not None else 0.0 for _, r in groups]

    def errors(key: str, values: list[float]) -> list[list[float]] | None:
        cis = [r.get(key) for _, r in groups]
        if not all(cis):
            return None
        return [
            [max(0.0, v - ci[0]) for v, ci in zip(values, cis, strict=True)],
            [max(0.0, ci[1] - v) for v, ci in zip(values, cis, strict=True)],
        ]

    fig = Figure(figsize=(max(6.0, 1.1 * len(groups) + 2), 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(groups)))
    w = 0.38
    sides = (
        ("ci95_before", before, -w / 2, report["base"], "#9aa5b1"),
        ("ci95_after", after, w / 2, report["tuned"], "#2f7ed8"),
    )
    for ci_key, values, shift, label, color in sides:
        bars = ax.bar(
            [i + shift for i in x],
            values,
            w,
            label=label,
            color=color,
            yerr=errors(ci_key, values),
            capsize=3,
            ecolor="#555",
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    totals = 2 if report.get("domain") else 1
    if len(groups) > totals:  # a thin line between the totals and the per-category bars
        ax.axvline(totals - 0.5, color="#ccc", linewidth=0.8)
    ax.set_xticks(x, labels, rotation=20, ha="right")
    top = max([1.0, *before, *after])
    ax.set_ylim(0, top * 1.12)
    ax.set_ylabel("score")
    ax.set_title(_title(report), fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def write_forgetting(
    report: dict[str, Any], out_dir: str | Path, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write forgetting.json, forgetting.png and forgetting.md into `out_dir`; return their paths.

    Refuses (FileExistsError, before writing anything) when one of them exists, unless `overwrite`:
    a previous report is never lost silently.
    """
    out = Path(out_dir)
    paths = {name.split(".")[1]: out / name for name in REPORT_FILES}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace")
    out.mkdir(parents=True, exist_ok=True)
    paths["json"].write_text(json.dumps(report, indent=2))
    plot_forgetting(report, paths["png"])
    paths["md"].write_text(format_markdown(report))
    return paths
