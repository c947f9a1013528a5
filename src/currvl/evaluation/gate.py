"""The gate a base model must pass before the bench may call it "a pretrained VLM in miniature".

Greedy completions on the general suite's held-out test split, every item in one of three forms
(open, yes/no, multiple choice), cycled per category so each class meets each form. The base passes
when every (category, form) cell reaches `min_accuracy`, at least `min_format` of completions are in
the <think>/<answer> format, and no completion repeats one token `max_run` or more times in a row
(the looping "higher higher higher" of an undertrained model).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from currvl.config.loader import ConfigError
from currvl.data.formats import answer_pools, to_choice, to_judge
from currvl.data.synthetic import GENERAL, make_samples

FORMS = ("open", "judge", "choice")
_FORMAT = re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)


@dataclass(frozen=True)
class GateThresholds:
    min_accuracy: float = 0.85
    min_format: float = 0.98
    max_run: int = 8


def gate_min_items() -> int:
    """The fewest probe items that ask every category in every form, so a verdict never rests on
    missing cells: categories interleave round-robin, and the category at position j with L classes
    first meets the last form at its (len(FORMS) - 1) * L-th item, probe index that times C plus j."""
    cats = list(GENERAL.categories)
    return max((len(FORMS) - 1) * len(GENERAL.categories[c]) * len(cats) + j + 1 for j, c in enumerate(cats))


def check_gate_items(n: int, batch_size: int = 1) -> None:
    """Refuse a gate too small to ask every (category, form) cell, or an empty batch, before any model
    is built."""
    if batch_size < 1:
        raise ConfigError(f"the gate's batch size must be >= 1, got {batch_size}")
    if n < gate_min_items():
        raise ConfigError(
            f"a gate of {n} items leaves (category, form) cells unasked; it needs at least "
            f"{gate_min_items()} general items"
        )


def gate_probe(n: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """The first `n` general test items, each in a form: the k-th item of a category with L classes
    takes form (k // L) % 3, so every class is asked in every form equally often."""
    samples = make_samples("general", "test", n, seed=seed)
    pools = answer_pools(samples)
    categories = list(GENERAL.categories)
    out = []
    for i, s in enumerate(samples):
        k = i // len(categories)
        form = FORMS[(k // len(GENERAL.categories[s["category"]])) % len(FORMS)]
        if form == "judge":
            item = to_judge(s, pools, seed, truth=(k // 3) % 2 == 0)
        elif form == "choice":
            item = to_choice(s, pools, seed)
        else:
            item = dict(s)
        item["form"] = form
        out.append(item)
    return out


def longest_token_run(token_ids: list[int]) -> int:
    """Length of the longest run of one repeated token."""
    best = run = 0
    prev = None
    for t in token_ids:
        run = run + 1 if t == prev else 1
        prev = t
        best = max(best, run)
    return best


def gate_result(
    samples: list[dict[str, Any]],
    completions: list[str],
    tokenizer,
    thresholds: GateThresholds | None = None,
) -> dict[str, Any]:
    """Accuracy per (category, form), format rate and longest repeat, with pass/fail and reasons."""
    from currvl.evaluation.evaluate import score_completions

    th = thresholds or GateThresholds()
    records = score_completions(samples, completions)["records"]
    cells: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s, r in zip(samples, records, strict=True):
        cells[(s["category"], s["form"])].append(float(r["score"]))
    in_format = [bool(_FORMAT.match(c)) for c in completions]
    runs = [longest_token_run(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in completions]
    table = {
        f"{cat}/{form}": {"accuracy": sum(v) / len(v), "n": len(v)}
        for (cat, form), v in sorted(cells.items())
    }
    failures = [
        f"{key}: accuracy {row['accuracy']:.3f} < {th.min_accuracy}"
        for key, row in table.items()
        if row["accuracy"] < th.min_accuracy
    ]
    format_rate = sum(in_format) / len(in_format)
    if format_rate < th.min_format:
        failures.append(f"format: {format_rate:.3f} of completions in the answer format < {th.min_format}")
    repeats = sum(r >= th.max_run for r in runs)
    if repeats:
        failures.append(f"repetition: {repeats} completions repeat a token {th.max_run}+ times in a row")
    examples = [
        {"id": s["id"], "form": s["form"], "answer": s["answer"], "completion": c}
        for s, c in list(zip(samples, completions, strict=True))[:15]
    ]
    return {
        "passed": not failures,
        "failures": failures,
        "n": len(samples),
        "cells": table,
        "format_rate": format_rate,
        "longest_run": max(runs, default=0),
        "completions_with_run": repeats,
        "thresholds": asdict(th),
        "examples": examples,
    }


def run_gate(model, processor, n: int = 1000, batch_size: int = 50, seed: int = 0) -> dict[str, Any]:
    """Generate greedily on the gate probe and judge the result."""
    from currvl.models.generation import generate

    check_gate_items(n, batch_size)
    samples = gate_probe(n, seed=seed)
    completions = generate(model, processor, samples, batch_size=batch_size, max_new_tokens=64)
    return gate_result(samples, completions, processor.tokenizer)


def gate_rows(result: dict[str, Any]) -> list[tuple[str, list[dict[str, Any] | None]]]:
    """(category, [cell per form in FORMS, None where the probe asked none]) in category order."""
    cats = sorted({k.split("/")[0] for k in result["cells"]})
    return [(cat, [result["cells"].get(f"{cat}/{form}") for form in FORMS]) for cat in cats]


def gate_markdown(result: dict[str, Any], title: str = "Base model gate") -> str:
    """The gate as a category x form table, then format, repetition and the verdict."""
    th = result["thresholds"]
    lines = [
        f"# {title}",
        "",
        f"General test split, {result['n']} items, greedy; pass: every cell >= {th['min_accuracy']}, "
        f">= {th['min_format']:.0%} in format, no token repeated {th['max_run']}+ times in a row.",
        "",
        "| category | " + " | ".join(FORMS) + " |",
        "|---|" + "---:|" * len(FORMS),
    ]
    for cat, cells in gate_rows(result):
        row = [f"{cell['accuracy']:.3f} (n={cell['n']})" if cell else "-" for cell in cells]
        lines.append(f"| {cat} | " + " | ".join(row) + " |")
    lines += [
        "",
        f"- in format: {result['format_rate']:.3f}",
        f"- longest token run: {result['longest_run']} ({result['completions_with_run']} completions at "
        f">= {th['max_run']})",
        f"- verdict: **{'PASS' if result['passed'] else 'FAIL'}**",
    ]
    lines += [f"  - {f}" for f in result["failures"]]
    return "\n".join(lines) + "\n"


def write_gate(result: dict[str, Any], out_dir: str | Path, title: str = "Base model gate") -> None:
    out = Path(out_dir)
    (out / "gate.json").write_text(json.dumps(result, indent=2))
    (out / "gate.md").write_text(gate_markdown(result, title))
