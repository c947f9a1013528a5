"""Greedy evaluation: batched generation, answers scored by the same rules as the rewards.

Scores are reported overall, per category (the skill: "color", "finding_box") and per task type (how
the answer is scored), each with its sample count and a 95% confidence interval, so a difference
between two models can be told apart from noise on a small held-out split.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from currvl.data.formats import PASS_THROUGH_TASKS
from currvl.data.schema import OPTION_LETTERS
from currvl.models.generation import generate
from currvl.models.loading import free_memory, load_model
from currvl.rewards import extract_answer, score_answer
from currvl.rewards.report import report_scores

REPORT_CATEGORY = "report"


# What the mean score of each task type measures (the rules live in currvl.rewards.scoring).
METRIC_NAMES: dict[str, str] = {
    "text": "accuracy",
    "math": "accuracy (math-verify)",
    "box": "IoU@0.5",
    "labels": "Jaccard",
    "yes_no": "accuracy",
    "choice": "accuracy (0.2 partial credit)",
}


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion; stays inside [0, 1] even for tiny n or p in {0, 1}.

    Fractional "successes" (Jaccard, partial credit) are fine: a score bounded in [0, 1] with mean p
    has variance at most p(1 - p), so the binomial interval is a conservative one for it.
    """
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(0.0, p * (1 - p)) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize(scores: list[float]) -> dict[str, Any]:
    """Mean, count and 95% Wilson interval of per-sample scores in [0, 1] (zeros when empty)."""
    n = len(scores)
    total = float(sum(scores))
    return {"score": total / n if n else 0.0, "n": n, "ci95": list(wilson_interval(total, n))}


def _metric_for(task_types: set[str]) -> tuple[str, str]:
    """(task type, metric name) of a group of samples; "mixed" when a category mixes task types."""
    if len(task_types) == 1:
        (task,) = task_types
        return task, METRIC_NAMES.get(task, "score")
    return "mixed", "mean score"


_CLOSED_FORM_ANSWERS = frozenset({"yes", "no", *(letter.lower() for letter in OPTION_LETTERS[:6])})


def format_leak(records: list[dict[str, Any]]) -> dict[str, Any]:
    """How often an open question gets a yes/no or a bare option letter (when that is not its answer).

    Curr-ReFT's judge and choice stages can teach the model to answer *every* question that way; on the
    open general probe this rate is the symptom, scored apart from accuracy so it is seen, not guessed.
    """
    open_records = [r for r in records if r["task"] not in PASS_THROUGH_TASKS]  # yes/no and choice items
    leaked = 0
    for r in open_records:
        said = (extract_answer(r["completion"]) or "").strip().strip(".").lower()
        leaked += said in _CLOSED_FORM_ANSWERS and said != str(r["answer"]).strip().lower()
    return {
        "rate": leaked / len(open_records) if open_records else 0.0,
        "leaked": leaked,
        "n": len(open_records),
    }


def _scored_as_report(category: str, tasks: set[str]) -> bool:
    """Findings reports score their finding; a report converted to yes/no or choice is a yes/no or choice."""
    return category == REPORT_CATEGORY and not tasks & set(PASS_THROUGH_TASKS)


def score_completions(samples: list[dict[str, Any]], completions: list[str]) -> dict[str, Any]:
    """Score completions by their samples' task rules; aggregate overall, per category and per task type.

    Per category and per task type: mean score (accuracy; math-verify for math; IoU@0.5 for boxes;
    Jaccard for label sets), sample count, 95% CI and the metric's name. Keys "score", "n", "ci95",
    "macro_score", "tasks" (per category) and "records" are what the demo and reports read.

    Findings reports (category "report") score their *finding* accuracy (`currvl.rewards.report`),
    not an exact text match; their size and location accuracy get rows of their own
    ("report_size", "report_location") that the overall and macro scores leave out.
    """
    per_cat: dict[str, list[float]] = defaultdict(list)
    cat_types: dict[str, set[str]] = defaultdict(set)
    per_type: dict[str, list[float]] = defaultdict(list)
    attributes: dict[str, list[float]] = defaultdict(list)
    records = []
    for s, text in zip(samples, completions, strict=True):
        cat = s.get("category") or s["task"]
        extra = {}
        if _scored_as_report(cat, {s["task"]}):
            extra["report_scores"] = report_scores(extract_answer(text), s["answer"])
            score = extra["report_scores"]["finding"]
            for key in ("size", "location"):
                if key in extra["report_scores"]:
                    attributes[f"report_{key}"].append(extra["report_scores"][key])
        else:
            score = score_answer(extract_answer(text), s["answer"], s["task"])
        per_cat[cat].append(score)
        cat_types[cat].add(s["task"])
        per_type[s["task"]].append(score)
        records.append(
            {
                "id": s.get("id"),
                "category": s.get("category"),
                "task": s["task"],
                "answer": s["answer"],
                "completion": text,
                "score": score,
                **extra,
            }
        )
    tasks = {}
    for cat, scores in sorted(per_cat.items()):
        task, metric = _metric_for(cat_types[cat])
        if _scored_as_report(cat, cat_types[cat]):
            metric = "finding accuracy"
        tasks[cat] = {**summarize(scores), "task": task, "metric": metric}
    macro = sum(t["score"] for t in tasks.values()) / len(tasks) if tasks else 0.0
    for name, scores in sorted(attributes.items()):
        tasks[name] = {**summarize(scores), "task": "text", "metric": "accuracy (report attribute)"}
    task_types = {
        t: {**summarize(scores), "metric": METRIC_NAMES.get(t, "score")}
        for t, scores in sorted(per_type.items())
    }
    overall = summarize([r["score"] for r in records])
    return {
        **overall,
        # Macro average: every category counts the same, whatever its sample count.
        "macro_score": macro,
        "tasks": tasks,
        "task_types": task_types,
        "format_leak": format_leak(records),
        "records": records,
    }


def evaluate(model, processor, samples: list[dict[str, Any]], **generate_kwargs: Any) -> dict[str, Any]:
    """Greedy (by default) batched generation on `samples`, scored as in `score_completions`."""
    completions = generate(model, processor, samples, **generate_kwargs)
    return score_completions(samples, completions)


def evaluate_sets(
    model, processor, sets: dict[str, list[dict[str, Any]]], **generate_kwargs: Any
) -> dict[str, dict[str, Any]]:
    """`evaluate` on several named sample sets ("general", "domain") with one loaded model."""
    out = {}
    for name, samples in sets.items():
        kwargs = {"description": f"evaluating {name}", **generate_kwargs}
        out[name] = evaluate(model, processor, samples, **kwargs)
    return out


def evaluate_model(
    name_or_path: str | Path,
    sets: dict[str, list[dict[str, Any]]],
    *,
    batch_size: int = 32,
    max_new_tokens: int = 64,
    **load_kwargs: Any,
) -> dict[str, dict[str, Any]]:
    """Load a model, `evaluate` it on every named set, free it: what every evaluating command does.
    `load_kwargs` go to `load_model` (dtype, device, ...)."""
    model, processor = load_model(str(name_or_path), **load_kwargs)
    try:
        return evaluate_sets(model, processor, sets, batch_size=batch_size, max_new_tokens=max_new_tokens)
    finally:
        del model, processor
        free_memory()


def format_scores(results: dict[str, dict[str, Any]]) -> str:
    """A plain table: one row per category, one column per model (results by model name)."""
    cats = sorted({c for r in results.values() for c in r["tasks"]})
    names = list(results)
    width = max([8, *map(len, cats)])
    lines = [f"{'category':<{width}}  " + "  ".join(f"{n:>12}" for n in names)]
    for c in cats:
        cells = []
        for n in names:
            t = results[n]["tasks"].get(c)
            cells.append(f"{t['score']:>12.3f}" if t else f"{'-':>12}")
        lines.append(f"{c:<{width}}  " + "  ".join(cells))
    lines.append(f"{'overall':<{width}}  " + "  ".join(f"{results[n]['score']:>12.3f}" for n in names))
    return "\n".join(lines)


def write_report(
    result: dict[str, Any], path: str | Path, keep_records: bool = True, *, overwrite: bool = True
) -> Path:
    """Write a result as JSON (without the per-sample records if `keep_records` is False).

    `overwrite=False` refuses to replace an existing file (the CLI's default: nothing the user had
    is lost); the default stays True for existing callers.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = result if keep_records else {k: v for k, v in result.items() if k != "records"}
    path.write_text(json.dumps(data, indent=2))
    return path
