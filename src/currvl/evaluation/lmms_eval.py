"""Real benchmarks for GPU users: run lmms-eval on a checkpoint and read its scores into our reports.

lmms-eval (https://github.com/EvolvingLMMs-Lab/lmms-eval) is called through its command line,
``python -m lmms_eval --model qwen2_5_vl --model_args pretrained=PATH --tasks T1,T2 --batch_size B
--output_path DIR``, in a subprocess, so its heavy dependencies and global logging stay out of our
process. It writes ``DIR/<sanitized model name>/<YYYYmmdd_HHMMSS>_results.json`` holding, per task,
``results[task]["<metric>,<filter>"]`` (e.g. ``"mme_cognition_score,none"``) plus
``"<metric>_stderr,<filter>"`` and ``n-samples[task]["effective"]``. `parse_results` turns that
into the result shape of `currvl.evaluation.evaluate` (one "category" per lmms task, score in
[0, 1]) so the lmms tasks can be the general abilities of a forgetting report.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import logging
import math
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)

DEFAULT_LMMS_MODEL = "qwen2_5_vl"
INSTALL_HINT = "pip install lmms-eval"

# The metric each known task is judged by, and its maximum (to bring it to [0, 1]). MME is special:
# perception (max 2000) + cognition (max 800); old lmms-eval spells it "mme_percetion_score".
_MME_PERCEPTION = ("mme_perception_score", "mme_percetion_score")
_MME_COGNITION = "mme_cognition_score"
_MME_MAX = {"perception": 2000.0, "cognition": 800.0}
KNOWN_METRICS: dict[str, float] = {
    "gpt_eval_score": 100.0,  # MMBench (percent)
    "exact_match": 1.0,
    "mmmu_acc": 1.0,
    "pope_accuracy": 1.0,
    "anls": 1.0,
    "relaxed_overall": 1.0,
    "ocrbench_accuracy": 1.0,
    "mme_realworld_score": 1.0,
    "accuracy": 1.0,
    "acc": 1.0,
}


class LmmsEvalError(RuntimeError):
    """lmms-eval is missing, failed, or left no results file."""


def lmms_eval_available() -> bool:
    """True when `python -m lmms_eval` can run in this interpreter."""
    return importlib.util.find_spec("lmms_eval") is not None


def task_list(tasks: str | Sequence[str]) -> list[str]:
    items = tasks.split(",") if isinstance(tasks, str) else list(tasks)
    out = [t.strip() for t in items if t and t.strip()]
    if not out:
        raise ValueError("no lmms-eval tasks given (e.g. --tasks mmbench_en_dev,mme)")
    return out


def _pretrained(model: str | Path) -> str:
    """A local checkpoint as an absolute path (the subprocess may not share our idea of '.'), else the hub id."""
    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        text = str(path.resolve())
    if "," in text:  # lmms-eval splits --model_args on commas
        raise ValueError(f"model path {text!r} contains a comma, which lmms-eval's --model_args cannot hold")
    return text


def build_command(
    model: str | Path,
    tasks: str | Sequence[str],
    output_path: str | Path,
    *,
    lmms_model: str = DEFAULT_LMMS_MODEL,
    batch_size: int | str = 1,
    model_args: str | None = None,
    limit: float | None = None,
    log_samples: bool = False,
    python: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The argv that evaluates `model` on `tasks` with lmms-eval, results under `output_path`.

    `model_args` adds lmms-eval model options after ``pretrained=`` (e.g. "max_pixels=1003520");
    `limit` caps samples per task (lmms-eval warns it is for testing only).
    """
    margs = f"pretrained={_pretrained(model)}"
    if model_args:
        margs += "," + model_args.strip(",")
    argv = [
        python or sys.executable,
        "-m",
        "lmms_eval",
        "--model",
        lmms_model,
        "--model_args",
        margs,
        "--tasks",
        ",".join(task_list(tasks)),
        "--batch_size",
        str(batch_size),
        "--output_path",
        str(output_path),
    ]
    if limit is not None:
        argv += ["--limit", str(int(limit) if float(limit).is_integer() else limit)]
    if log_samples:
        argv.append("--log_samples")
    return argv + list(extra_args)


def sanitize_model_name(model_name: str) -> str:
    """The folder lmms-eval files a model's results under: its last two path parts joined by '__'.

    Mirrors ``lmms_eval.utils.sanitize_model_name`` (full_path=False).
    """
    parts = model_name.split("/")
    last_two = "/".join(parts[-2:]) if len(parts) > 1 else parts[-1]
    return re.sub(r"[\"<>:/\|\\?\*\[\]]+", "__", last_two)


def find_results(
    output_path: str | Path, model: str | Path | None = None, *, newer_than: float | None = None
) -> Path:
    """The newest ``*_results.json`` lmms-eval wrote under `output_path` (for `model` when given).

    Looks in the model's own folder first, then anywhere below `output_path`; `newer_than` (a
    time.time() value) ignores results left by earlier runs.
    """
    root = Path(output_path)
    folders = [root / sanitize_model_name(_pretrained(model))] if model is not None else []
    for pattern_root, pattern in [*((f, "*_results.json") for f in folders), (root, "**/*_results.json")]:
        found = [
            p
            for p in pattern_root.glob(pattern)
            if p.is_file() and (newer_than is None or p.stat().st_mtime >= newer_than)
        ]
        if found:
            return max(found, key=lambda p: (p.name, p.stat().st_mtime))
    raise LmmsEvalError(f"no lmms-eval results file (*_results.json) under {root}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _split_metrics(entry: dict[str, Any]) -> dict[str, tuple[float, float | None]]:
    """{metric: (value, stderr or None)} from lmms-eval's "metric,filter" keys (numbers only)."""
    out: dict[str, tuple[float, float | None]] = {}
    for key, value in entry.items():
        name, _, flt = key.partition(",")
        if name.endswith("_stderr") or name == "alias":
            continue
        number = _number(value)
        if number is None:
            continue
        stderr = _number(entry.get(f"{name}_stderr,{flt}" if flt else f"{name}_stderr"))
        out.setdefault(name, (number, stderr))
    return out


def task_score(
    task: str, entry: dict[str, Any], higher_is_better: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One lmms task's result as {"score" in [0, 1] (when the scale is known), "metric", "ci95", "raw"}.

    MME: (perception + cognition) / 2800. Known metrics (KNOWN_METRICS) are divided by their
    maximum. Otherwise the first higher-is-better number is taken, as a fraction if it lies in
    [0, 1], as a percentage if in (1, 100]; any other scale is kept raw ("normalized": False).
    """
    metrics = _split_metrics(entry)
    raw = {name: value for name, (value, _) in metrics.items()}
    perception = next((metrics[k][0] for k in _MME_PERCEPTION if k in metrics), None)
    cognition = metrics[_MME_COGNITION][0] if _MME_COGNITION in metrics else None
    if perception is not None or cognition is not None:
        total = (perception or 0.0) + (cognition or 0.0)
        maximum = (_MME_MAX["perception"] if perception is not None else 0.0) + (
            _MME_MAX["cognition"] if cognition is not None else 0.0
        )
        parts = [p for p, v in (("perception", perception), ("cognition", cognition)) if v is not None]
        return {
            "score": total / maximum,
            "metric": f"MME {' + '.join(parts)} / {maximum:g}",
            "ci95": None,
            "normalized": True,
            "raw": raw,
        }
    hib = higher_is_better or {}
    name = next((m for m in metrics if m in KNOWN_METRICS), None)
    scale: float | None = KNOWN_METRICS.get(name) if name else None
    if name is None:
        candidates = [m for m in metrics if hib.get(m, True) is not False]
        if not candidates:
            raise LmmsEvalError(f"lmms-eval task {task!r} has no numeric higher-is-better metric: {entry}")
        name = candidates[0]
        value = metrics[name][0]
        scale = 1.0 if 0.0 <= value <= 1.0 else 100.0 if 0.0 <= value <= 100.0 else None
    value, stderr = metrics[name]
    divisor = scale or 1.0
    score = value / divisor
    ci95 = None
    if stderr is not None and scale is not None:
        half = 1.96 * stderr / divisor
        ci95 = [max(0.0, score - half), min(1.0, score + half)]
    return {
        "score": score,
        "metric": name if scale in (None, 1.0) else f"{name} / {scale:g}",
        "ci95": ci95,
        "normalized": scale is not None,
        "raw": raw,
    }


def _top_level_tasks(data: dict[str, Any]) -> list[str]:
    """Tasks in `results` that are not a subtask of a group also listed there (no double counting)."""
    results = data.get("results", {})
    subtasks = {
        sub for group, subs in (data.get("group_subtasks") or {}).items() if group in results for sub in subs
    }
    return [t for t in results if t not in subtasks]


def load_results_file(path: str | Path) -> dict[str, Any]:
    """The JSON of an lmms-eval results file, or of the newest one under a folder."""
    path = Path(path)
    if path.is_dir():
        path = find_results(path)
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise LmmsEvalError(f"{path} is not an lmms-eval results file (no 'results' mapping)")
    data.setdefault("_source", str(path))
    return data


def parse_results(
    results: str | Path | dict[str, Any], tasks: str | Sequence[str] | None = None
) -> dict[str, Any]:
    """lmms-eval results (a file, a folder, or the loaded JSON) as an evaluation result.

    Shape as `currvl.evaluation.evaluate.score_completions`: "score" (mean of the per-task scores:
    tasks differ in size and scale, so each counts once), "n", "ci95" (None: no common interval),
    "macro_score", and "tasks" {task: {"score", "n", "ci95", "metric", "normalized", "raw"}}.
    `tasks` keeps only those (wildcards as in lmms-eval; a task missing from the file is an error).
    """
    data = results if isinstance(results, dict) else load_results_file(results)
    table = data["results"]
    if tasks is None:
        names = _top_level_tasks(data)
    else:
        names, missing = [], []
        for pattern in task_list(tasks):  # lmms-eval accepts shell-style wildcards in --tasks
            matched = fnmatch.filter(table, pattern) if any(c in pattern for c in "*?[") else []
            if pattern in table:
                matched = [pattern]
            names += [m for m in matched if m not in names]
            if not matched:
                missing.append(pattern)
        if missing:
            raise LmmsEvalError(
                f"lmms-eval results have no task(s) {', '.join(missing)}; they hold {', '.join(table) or 'none'}"
            )
    n_samples = data.get("n-samples") or {}
    hib = data.get("higher_is_better") or {}
    per_task: dict[str, dict[str, Any]] = {}
    for name in names:
        info = task_score(name, table[name], hib.get(name))
        counts = n_samples.get(name) or {}
        n = counts.get("effective", counts.get("original"))
        per_task[name] = {"score": info["score"], "n": n, **{k: v for k, v in info.items() if k != "score"}}
    scores = [t["score"] for t in per_task.values()]
    mean = sum(scores) / len(scores) if scores else 0.0
    total_n = sum(t["n"] for t in per_task.values() if isinstance(t["n"], int))
    config = data.get("config") or {}
    return {
        "score": mean,
        "n": total_n,
        "ci95": None,
        "macro_score": mean,
        "tasks": per_task,
        "harness": "lmms-eval",
        "source": data.get("_source"),
        "model_args": config.get("model_args"),
        "limit": config.get("limit"),
    }


def run_lmms_eval(
    model: str | Path,
    tasks: str | Sequence[str],
    output_path: str | Path,
    *,
    runner: Callable[..., Any] | None = None,
    **command_kwargs: Any,
) -> Path:
    """Run lmms-eval on `model` (argv from `build_command`) and return the results file it wrote.

    `runner` (default `subprocess.run`) runs the argv. Raises LmmsEvalError with the install command
    when lmms-eval is missing, and with the exact command line when it fails, so the user can rerun
    it by hand.
    """
    if not lmms_eval_available():
        raise LmmsEvalError(
            f"lmms-eval is not installed in this environment ({sys.executable}); "
            f"install it with `{INSTALL_HINT}` (or from https://github.com/EvolvingLMMs-Lab/lmms-eval)"
        )
    argv = build_command(model, tasks, output_path, **command_kwargs)
    Path(output_path).mkdir(parents=True, exist_ok=True)
    _log.info("running %s", shlex.join(argv))
    started = time.time()
    done = (runner or subprocess.run)(argv, check=False)
    code = getattr(done, "returncode", 0)
    if code != 0:
        raise LmmsEvalError(f"lmms-eval exited with status {code}; command: {shlex.join(argv)}")
    try:
        return find_results(output_path, model, newer_than=started - 1.0)
    except LmmsEvalError as err:
        raise LmmsEvalError(f"{err} after running: {shlex.join(argv)}") from None


def is_results_file(model: str | Path) -> bool:
    """True when `model` names saved lmms-eval results (a *_results.json), not a checkpoint."""
    path = Path(model)
    return path.is_file() and path.name.endswith("results.json")


def evaluate_lmms(
    model: str | Path,
    tasks: str | Sequence[str],
    output_path: str | Path,
    **run_kwargs: Any,
) -> dict[str, Any]:
    """lmms-eval scores of `model` on `tasks` as an evaluation result (see `parse_results`).

    A `model` that is already a results file is read, not rerun: evaluate the base model once and
    reuse its results for every tuned checkpoint.
    """
    path = Path(model) if is_results_file(model) else run_lmms_eval(model, tasks, output_path, **run_kwargs)
    return parse_results(path, tasks)
