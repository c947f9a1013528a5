"""What the GRPO benchmarks share: one config for currvl's and plain TRL's trainer on the same run."""

from __future__ import annotations

import argparse
from typing import Any

from currvl.training.trainer_configs import CurrvlGRPOConfig


def bench_config(args: argparse.Namespace, on_gpu: bool, **settings: Any) -> CurrvlGRPOConfig:
    """A fixed-length GRPO run of `args.steps` steps, `args.prompts` prompts x `args.generations`
    rollouts, nothing saved or reported; `settings` are the benchmark's own (rate, lengths, ...).
    currvl's trainer reads its options from this config; TRL's takes the same config and ignores them."""
    return CurrvlGRPOConfig(
        output_dir=args.out_dir,
        max_steps=args.steps,
        per_device_train_batch_size=args.prompts * args.generations,
        num_generations=args.generations,
        max_completion_length=args.new_tokens,
        beta=0.04,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        log_completions=False,
        bf16=on_gpu,
        use_cpu=not on_gpu,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        seed=0,
        **settings,
    )
