"""The GPU check: GRPO steps of a Qwen2.5-VL-3B-sized model, currvl's trainer against plain TRL.

One call, one GPU, a time limit: the model is built in memory from Qwen2.5-VL-3B-Instruct's published
sizes with random weights (`currvl.models.sized`; nothing is downloaded), completions have a fixed
length (EOS is held back until `--new-tokens`: `min_new_tokens`), and each run is a fresh subprocess
so its peak GPU memory is its own. For each setting (small images, and an image-heavy one with 1,024
vision tokens per image) and each mode (full fine-tuning, LoRA) it runs TRL's `GRPOTrainer` and
currvl's `CurrvlGRPOTrainer` on the same config and data, and reports step time, tokens per second
(prompt + completion tokens the step processed, from TRL's `num_tokens`), and peak GPU memory.

    python benchmarks/gpu_check.py --json gpu_check.json                     # on the GPU machine
    python benchmarks/gpu_check.py --size smoke --steps 2 --settings small   # the CPU-checkable path (a test runs it)

Targets (issue 32): currvl >= 1.0x TRL's tokens/s at <= 1.0x its peak memory; >= 1.2x on the
image-heavy batch. Anchor: EasyR1 reports about 1,800 tokens/s per H100 for Qwen2.5-VL-3B GRPO on 8
GPUs. Not covered here: FSDP and DeepSpeed ZeRO-3 (DeepSpeed is not a dependency; launch this script
under `accelerate launch --config_file ...` to try them) and vLLM rollouts (reported as available or
not: vLLM is not a dependency either).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAINERS = ("trl", "currvl")
MODES = ("full", "lora")
SETTINGS = {"small": 112, "image-heavy": 896}  # px: 16 and 1,024 merged vision tokens per image
SIZES = ("3b", "smoke")


def _worker(args: argparse.Namespace) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from grpo_bench import bench_config  # beside this script
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from currvl.data.synthetic import make_samples
    from currvl.models import load_model
    from currvl.models.sized import parameter_count
    from currvl.rewards import get_reward_funcs
    from currvl.training.datasets import to_grpo_dataset
    from currvl.training.grpo import CurrvlGRPOTrainer

    class StepTimes(TrainerCallback):
        def __init__(self) -> None:
            self.marks: list[tuple[float, float]] = []  # (time, tokens so far)

        def on_step_end(self, a, state, control, **kwargs):
            self.marks.append((time.perf_counter(), float(state.num_input_tokens_seen or 0)))

    on_gpu = torch.cuda.is_available()
    # from the saved folder: TRL builds its reference model from the policy's path
    model, processor = load_model(
        args.model_dir, dtype="bfloat16" if on_gpu else "float32", device="cuda" if on_gpu else None
    )
    side = args.image_size
    processor.image_processor.min_pixels = processor.image_processor.max_pixels = side * side
    samples = make_samples("scan", "train", n=args.prompts * (args.steps + 1), seed=0, image_size=side)
    peft_config = None
    if args.mode == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=16,
            lora_alpha=32,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            task_type="CAUSAL_LM",
        )
    config = bench_config(
        args,
        on_gpu,
        generation_kwargs={"min_new_tokens": args.new_tokens},  # fixed length: EOS held back
        learning_rate=1e-6,
        gradient_checkpointing=on_gpu and args.mode == "full",
    )
    timer = StepTimes()
    cls = CurrvlGRPOTrainer if args.worker == "currvl" else GRPOTrainer
    trainer = cls(
        model=model,
        args=config,
        reward_funcs=get_reward_funcs(["format", "accuracy"]),
        train_dataset=to_grpo_dataset(samples),
        processing_class=processor,
        callbacks=[timer],
        peft_config=peft_config,
    )
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    history = trainer.state.log_history
    tokens = [h["num_tokens"] for h in history if "num_tokens" in h]
    steps = [h for h in history if "num_tokens" in h]
    marks = timer.marks
    steady_s = (
        (marks[-1][0] - marks[0][0]) / (len(marks) - 1) if len(marks) >= 2 else total / max(1, len(marks))
    )
    per_step_tokens = (tokens[-1] - tokens[0]) / (len(tokens) - 1) if len(tokens) >= 2 else (tokens or [0])[0]
    result = {
        "trainer": args.worker,
        "mode": args.mode,
        "image_size": side,
        "size": args.size,
        "parameters": parameter_count(model),
        "device": torch.cuda.get_device_name() if on_gpu else "cpu",
        "steps": len(marks),
        "step_s": steady_s,
        "tokens_per_step": per_step_tokens,
        "tokens_per_s": per_step_tokens / steady_s if steady_s else None,
        "mean_completion_length": statistics.mean(
            h["completions/mean_length"] for h in steps if "completions/mean_length" in h
        ),
        "gpu_peak_gib": torch.cuda.max_memory_allocated() / 2**30 if on_gpu else None,
        "train_seconds": total,
    }
    Path(args.result).write_text(json.dumps(result))


def _run(trainer: str, mode: str, setting: str, args: argparse.Namespace, work: Path) -> dict:
    tag = f"{setting}-{mode}-{trainer}"
    result = work / f"{tag}.json"
    cmd = [sys.executable, __file__, "--worker", trainer, "--mode", mode, "--size", args.size]
    cmd += [
        "--image-size",
        str(SETTINGS[setting]),
        "--steps",
        str(args.steps),
        "--prompts",
        str(args.prompts),
    ]
    cmd += ["--generations", str(args.generations), "--new-tokens", str(args.new_tokens)]
    cmd += [
        "--out-dir",
        str(work / f"out-{tag}"),
        "--result",
        str(result),
        "--model-dir",
        str(work / "model"),
    ]
    with open(work / f"{tag}.log", "w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=args.run_timeout).returncode
    if code != 0:
        tail = (work / f"{tag}.log").read_text()[-2000:]
        return {"trainer": trainer, "mode": mode, "setting": setting, "error": f"exit {code}: {tail}"}
    return {**json.loads(result.read_text()), "setting": setting}


def vllm_status() -> str:
    """vLLM rollouts need the vllm wheel, which is not a dependency of currvl."""
    if importlib.util.find_spec("vllm") is None:
        return "not installed (not a currvl dependency): colocate rollouts not run"
    import vllm

    return f"installed ({vllm.__version__}); colocate rollouts not run by this script"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=SIZES, default="3b", help="3b: the real sizes; smoke: widths / 64")
    p.add_argument("--steps", type=int, default=4, help="optimiser steps per run (the first is warm-up)")
    p.add_argument("--prompts", type=int, default=2, help="prompts per step")
    p.add_argument("--generations", type=int, default=4, help="completions per prompt")
    p.add_argument("--new-tokens", type=int, default=128, help="the fixed completion length")
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated of {list(SETTINGS)}")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated of {list(MODES)}")
    p.add_argument("--trainers", default=",".join(TRAINERS), help=f"comma-separated of {list(TRAINERS)}")
    p.add_argument(
        "--run-timeout", type=int, default=900, help="seconds per run before it is reported failed"
    )
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--worker", choices=TRAINERS, help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=MODES, default="full", help=argparse.SUPPRESS)
    p.add_argument("--image-size", type=int, default=112, help=argparse.SUPPRESS)
    p.add_argument("--out-dir", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="currvl-gpu-check-") as tmp:
        import torch

        from currvl.models.sized import QWEN25VL_3B, SMOKE_FACTOR, build_sized_model, parameter_count, scaled

        sizes = QWEN25VL_3B if args.size == "3b" else scaled(QWEN25VL_3B, SMOKE_FACTOR)
        start = time.perf_counter()
        model, processor = build_sized_model(
            sizes, dtype=torch.bfloat16 if torch.cuda.is_available() else torch.float32
        )
        model.save_pretrained(Path(tmp) / "model")
        processor.save_pretrained(Path(tmp) / "model")
        print(
            f"{sizes.name}: {parameter_count(model) / 1e9:.3f}B parameters, built and saved in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        del model
        for setting in [s.strip() for s in args.settings.split(",") if s.strip()]:
            for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
                for trainer in [t.strip() for t in args.trainers.split(",") if t.strip()]:
                    r = _run(trainer, mode, setting, args, Path(tmp))
                    runs.append(r)
                    print(
                        json.dumps(
                            {k: v for k, v in r.items() if k != "error"} | {"error": r.get("error", "")[:200]}
                        )
                    )
    print("\n| setting | mode | trainer | step (s) | tokens/s | peak GPU (GiB) | completion length |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in runs:
        if "error" in r:
            print(f"| {r['setting']} | {r['mode']} | {r['trainer']} | failed | | | |")
            continue
        gpu = f"{r['gpu_peak_gib']:.1f}" if r["gpu_peak_gib"] is not None else "-"
        print(
            f"| {r['setting']} | {r['mode']} | {r['trainer']} | {r['step_s']:.2f} | {r['tokens_per_s']:.0f} | "
            f"{gpu} | {r['mean_completion_length']:.0f} |"
        )
    print(f"\nvLLM: {vllm_status()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "vllm": vllm_status()}, indent=2))
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
