"""What a person sees while a model trains: one compact line per logging step, the rest in a file.

TRL prints its whole metric dict (about 1,000 characters) between progress-bar updates at every
step; the numbers a person watches (loss, reward, task reward, task zero-variance, KL, stage or rho,
step time) are lost in it. `install_console` swaps transformers' progress callback for one that
writes a compact line under the bar, and adds a callback that appends every logged dict, in full,
to `metrics.jsonl` in the run's folder (TensorBoard and other `report_to` targets still get them
too). `set_verbose(True)` (the CLI's `--verbose`) keeps TRL's dicts on the console as well.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from currvl.algorithms.signals import FORMAT_MARKERS, ZERO_VARIANCE_TASK_KEY

METRICS_FILE = "metrics.jsonl"
_verbose = False


def set_verbose(on: bool) -> None:
    """Print TRL's full metric dict at every logging step too (the CLI's --verbose)."""
    global _verbose
    _verbose = bool(on)


def is_verbose() -> bool:
    return _verbose


def _task_reward(logs: dict[str, Any]) -> float | None:
    """Sum of the logged per-function mean rewards that score the task (every reward but format)."""
    values = [
        v
        for k, v in logs.items()
        if k.startswith("rewards/")
        and k.endswith("/mean")
        and not any(m in k.lower() for m in FORMAT_MARKERS)
    ]
    values = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    return sum(values) if values else None


# (label, key or function, format) of the compact line, in order; absent values are left out.
FIELDS: tuple[tuple[str, Any, str], ...] = (
    ("loss", "loss", "{:.4f}"),
    ("reward", "reward", "{:.3f}"),
    ("task", _task_reward, "{:.3f}"),
    ("zero-var", ZERO_VARIANCE_TASK_KEY, "{:.2f}"),
    ("kl", "kl", "{:.4f}"),
    ("rho", "rcpa/rho", "{:.2f}"),
    ("lr", "learning_rate", "{:.1e}"),
)


def compact_line(
    logs: dict[str, Any], step: int, max_steps: int, seconds_per_step: float | None, label: str = ""
) -> str:
    """`[label] step 12/90 | loss 0.0123 | reward 1.234 | task 0.400 | zero-var 0.50 | kl 0.0031 | rho 0.45 | 2.1 s/step`."""
    parts = [f"{label + ' ' if label else ''}step {step}/{max_steps}"]
    for name, key, fmt in FIELDS:
        value = key(logs) if callable(key) else logs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{name} {fmt.format(value)}")
    if seconds_per_step is not None:
        parts.append(f"{seconds_per_step:.1f} s/step")
    return " | ".join(parts)


class CompactProgressCallback(ProgressCallback):
    """transformers' progress bar, with one compact line per logging step instead of the metric dict."""

    def __init__(self, label: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label
        self._last: tuple[float, int] | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._last = (time.perf_counter(), state.global_step)
        return super().on_train_begin(args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        if _verbose:
            return super().on_log(args, state, control, logs=logs, **kwargs)
        if "loss" not in logs and "reward" not in logs:  # the end-of-training summary, eval rows
            return
        now = time.perf_counter()
        per_step = None
        if self._last is not None and state.global_step > self._last[1]:
            per_step = (now - self._last[0]) / (state.global_step - self._last[1])
        self._last = (now, state.global_step)
        self.training_bar.write(compact_line(logs, state.global_step, state.max_steps, per_step, self.label))


class MetricsFileCallback(TrainerCallback):
    """Appends every logged dict, in full, with its step, to `<output_dir>/metrics.jsonl` (process 0)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        path = Path(args.output_dir) / METRICS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        row = {"step": state.global_step, **{k: v for k, v in logs.items() if _jsonable(v)}}
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def _jsonable(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool)) or value is None


def install_console(trainer, label: str = "") -> None:
    """Swap the trainer's progress callback for the compact one and log every metric to metrics.jsonl."""
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(CompactProgressCallback(label=label))
    trainer.add_callback(MetricsFileCallback())
