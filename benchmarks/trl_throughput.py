"""Throughput and peak memory of currvl's GRPO trainer against plain `trl.GRPOTrainer`.

Both train the same tiny Qwen2.5-VL with the same GRPO config, data, seed and reward functions. Runs
alternate (TRL, currvl, TRL, currvl, ...) so slow drifts of the machine hit both alike, and each run is a
fresh subprocess so its peak resident memory (from `os.wait4`) is its own. Steps/s is measured over the
optimiser steps after the first one (the first includes one-off warm-up), from the trainer's own callback.

    python benchmarks/trl_throughput.py                      # both settings, 3 runs per trainer each
    python benchmarks/trl_throughput.py --steps 2 --repeats 1   # smoke test

Two settings in one run: "small" (the bench's 112 px images, 64 vision tokens each) and "image-heavy"
(448 px images, 256 vision tokens each, so the vision tower is a large share of the step). TRL repeats
each prompt's pixels once per completion; currvl encodes each distinct image once per forward pass
(`currvl.models.vision_sharing`), which is where its lead on image-heavy steps comes from.

Targets: currvl/TRL steps/s >= 0.95 on "small" (no loss) and >= 1.3 on "image-heavy"; peak memory no
higher (2 % allowed for measurement noise).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAINERS = ("trl", "currvl")
SETTINGS: dict[str, dict[str, int]] = {
    "small": {"image_size": 112, "speed_target_x100": 95},
    "image-heavy": {"image_size": 448, "speed_target_x100": 130},
}


def _worker(args: argparse.Namespace) -> None:
    """One training run in this process; writes its measurements as JSON to --result."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from grpo_bench import bench_config  # beside this script
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from currvl.data.synthetic import make_samples
    from currvl.models import load_model
    from currvl.rewards import get_reward_funcs
    from currvl.training.datasets import to_grpo_dataset
    from currvl.training.grpo import CurrvlGRPOTrainer
    from currvl.training.reliability import InterruptionCallback

    class StepTimes(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_end(self, a, state, control, **kwargs):
            self.times.append(time.perf_counter())
            return control

    on_gpu = torch.cuda.is_available()
    side = args.image_size
    model, processor = load_model(
        args.model_dir,
        dtype="bfloat16" if on_gpu else "float32",
        min_pixels=side * side,
        max_pixels=side * side,
    )
    samples = make_samples("scan", "train", n=args.prompts * max(args.steps, 1), seed=0, image_size=side)
    config = bench_config(args, on_gpu, learning_rate=1e-5)
    timer = StepTimes()
    callbacks = [timer]
    cls = GRPOTrainer
    if args.worker == "currvl":
        cls = CurrvlGRPOTrainer
        callbacks.append(InterruptionCallback())  # what `currvl train` installs
    trainer = cls(
        model=model,
        args=config,
        reward_funcs=get_reward_funcs(["format", "accuracy"]),
        train_dataset=to_grpo_dataset(samples),
        processing_class=processor,
        callbacks=callbacks,
    )
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    t = timer.times
    steady = (len(t) - 1) / (t[-1] - t[0]) if len(t) >= 3 else len(t) / total
    result = {
        "trainer": args.worker,
        "image_size": side,
        "steps": len(t),
        "steps_per_s": steady,
        "train_seconds": total,
        "gpu_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if on_gpu else None,
        # same seed and model: equal lengths mean both did the same generation work
        "mean_completion_length": statistics.mean(
            h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h
        ),
    }
    Path(args.result).write_text(json.dumps(result))


def _run_once(
    trainer: str, args: argparse.Namespace, model_dir: Path, work: Path, index: int, setting: str
) -> dict:
    tag = f"{setting}-{index}-{trainer}"
    result = work / f"result-{tag}.json"
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        trainer,
        "--model-dir",
        str(model_dir),
        "--out-dir",
        str(work / f"out-{tag}"),
        "--result",
        str(result),
        "--steps",
        str(args.steps),
        "--prompts",
        str(args.prompts),
        "--generations",
        str(args.generations),
        "--new-tokens",
        str(args.new_tokens),
        "--image-size",
        str(SETTINGS[setting]["image_size"]),
    ]
    with open(work / f"log-{tag}.txt", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not a running maximum
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{trainer} run {index} ({setting}) failed (exit {proc.returncode}); see {log.name}")
    out = json.loads(result.read_text())
    out["setting"] = setting
    # ru_maxrss is KiB on Linux, bytes on macOS
    out["peak_rss_mib"] = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10, help="optimiser steps per run (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="runs per trainer, alternating (default 3)")
    p.add_argument("--prompts", type=int, default=8, help="prompts per step (default 8)")
    p.add_argument("--generations", type=int, default=4, help="completions per prompt (default 4)")
    p.add_argument("--new-tokens", type=int, default=64, help="max_completion_length (default 64)")
    p.add_argument("--model-dir", help="a model folder to use instead of building the tiny model")
    p.add_argument(
        "--settings",
        default=",".join(SETTINGS),
        help=f"comma-separated, of {', '.join(SETTINGS)} (default all)",
    )
    p.add_argument("--image-size", type=int, default=112, help=argparse.SUPPRESS)
    p.add_argument("--json", help="also write all measurements to this file")
    p.add_argument("--worker", choices=TRAINERS, help=argparse.SUPPRESS)
    p.add_argument("--out-dir", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0

    with tempfile.TemporaryDirectory(prefix="currvl-bench-") as tmp:
        work = Path(tmp)
        model_dir = Path(args.model_dir) if args.model_dir else None
        if model_dir is None:
            from currvl.models.tiny import build_tiny_model

            model_dir = build_tiny_model(work / "tiny-model")
        settings = [x.strip() for x in args.settings.split(",") if x.strip()]
        unknown = [x for x in settings if x not in SETTINGS]
        if unknown:
            sys.exit(f"unknown setting(s) {unknown}; choose from {list(SETTINGS)}")
        print(
            f"GRPO, {args.prompts} prompts x {args.generations} generations, {args.new_tokens} new tokens, "
            f"{args.steps} steps; {args.repeats} alternating runs per trainer and setting; model {model_dir.name}",
            flush=True,
        )
        runs: list[dict] = []
        for setting in settings:
            print(f"{setting} ({SETTINGS[setting]['image_size']} px images):", flush=True)
            for i in range(args.repeats):
                for trainer in TRAINERS:
                    r = _run_once(trainer, args, model_dir, work, i, setting)
                    runs.append(r)
                    gpu = f"  gpu peak {r['gpu_peak_mib']:.0f} MiB" if r["gpu_peak_mib"] is not None else ""
                    print(
                        f"  run {i + 1} {trainer:<7} {r['steps_per_s']:7.3f} steps/s  "
                        f"peak RSS {r['peak_rss_mib']:7.0f} MiB{gpu}",
                        flush=True,
                    )

    def median(setting: str, trainer: str, key: str) -> float | None:
        vals = [
            r[key] for r in runs if r["setting"] == setting and r["trainer"] == trainer and r[key] is not None
        ]
        return statistics.median(vals) if vals else None

    summary: dict[str, dict] = {}
    print(
        "\n| setting | TRL steps/s | currvl steps/s | speed ratio (target) | TRL peak RSS | currvl peak RSS | memory ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    all_met = True
    for setting in settings:
        med = {
            t: {k: median(setting, t, k) for k in ("steps_per_s", "peak_rss_mib", "gpu_peak_mib")}
            for t in TRAINERS
        }
        speed = med["currvl"]["steps_per_s"] / med["trl"]["steps_per_s"]
        memory = med["currvl"]["peak_rss_mib"] / med["trl"]["peak_rss_mib"]
        target = SETTINGS[setting]["speed_target_x100"] / 100
        met = speed >= target and memory <= 1.02
        all_met &= met
        summary[setting] = {
            "median": med,
            "speed_ratio": speed,
            "memory_ratio": memory,
            "speed_target": target,
            "met": met,
        }
        print(
            f"| {setting} | {med['trl']['steps_per_s']:.3f} | {med['currvl']['steps_per_s']:.3f} | "
            f"{speed:.3f} (>= {target}) | {med['trl']['peak_rss_mib']:.0f} MiB | "
            f"{med['currvl']['peak_rss_mib']:.0f} MiB | {memory:.3f} |"
        )
    print("all targets met" if all_met else "target MISSED in at least one setting (see the table)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "settings": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
