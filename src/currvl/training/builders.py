"""The tools every runner shares: the output folder, the trainer for a recipe, the final save and plots.

`run.train` (one recipe end to end), `curriculum_run` (stage after stage) and `self_improve_run` all
build trainers and save results the same way; the tools live here so that none of them imports another.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from currvl.algorithms.signals import ZERO_VARIANCE_TASK_KEY
from currvl.data.sources import load_source
from currvl.models.loading import load_model
from currvl.training.datasets import to_grpo_dataset, to_sft_dataset
from currvl.training.recipe import Recipe, default_trainer_args

if TYPE_CHECKING:  # trl loads slowly: the CLI imports this module before it needs TRL
    from currvl.training.trainer_configs import CurrvlGRPOConfig


class OutputDirExistsError(FileExistsError):
    pass


def holds_anything(folder: str | Path) -> bool:
    """Whether `folder` exists with something in it: a run there is refused without --resume or
    --overwrite, and a failed start may remove only a folder that held nothing."""
    folder = Path(folder)
    return folder.exists() and any(folder.iterdir())


def prepare_output_dir(output_dir: str | Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Never clobber a previous run: an occupied folder needs an explicit --resume or --overwrite.

    Under a launcher only rank 0 checks and prepares the folder, then marks it claimed for this
    launch; the other ranks wait for that mark before they read anything there (a stale finished run
    that rank 0 is about to replace must not look finished to them). A refusal on rank 0 ends the
    launch."""
    from currvl.training.distributed import claim_for_launch, is_main_process, wait_for_claim

    out = Path(output_dir)
    if not is_main_process():
        wait_for_claim(out)
        return out
    occupied = holds_anything(out)
    if occupied and not (overwrite or resume):
        raise OutputDirExistsError(
            f"{out} already holds a run; pass --resume to continue it or --overwrite to replace it"
        )
    if occupied and overwrite and not resume:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    claim_for_launch(out)
    return out


def build_trainer(
    recipe: Recipe, output_dir: Path, train_samples: list[dict[str, Any]], callbacks: list | None = None
):
    """The TRL trainer for `recipe` (model loaded, data converted); no training yet."""
    from currvl.training.console import install_console
    from currvl.training.distributed import RankAgreementCallback
    from currvl.training.reliability import InterruptionCallback

    # SIGINT/SIGTERM: save a checkpoint at the step end, then `trainer.train()` raises TrainingInterrupted
    # and, with several processes, a check that every rank holds the same weights after each step
    callbacks = [*(callbacks or []), InterruptionCallback(), RankAgreementCallback()]
    on_gpu = torch.cuda.is_available()
    dtype = recipe.model.dtype
    if dtype == "auto":
        dtype = "bfloat16" if on_gpu else "float32"
    proc_kwargs = {
        k: v
        for k, v in (("min_pixels", recipe.model.min_pixels), ("max_pixels", recipe.model.max_pixels))
        if v
    }
    model, processor = load_model(
        recipe.model.name_or_path,
        dtype=dtype,
        attn_implementation=recipe.model.attn_implementation,
        **proc_kwargs,
    )
    peft_config = None
    if recipe.model.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(**recipe.model.lora)
    targs = {**default_trainer_args(recipe.method, on_gpu), **recipe.trainer}
    targs.update(output_dir=str(output_dir), seed=recipe.seed)
    common = {
        "model": model,
        "processing_class": processor,
        "peft_config": peft_config,
        "callbacks": callbacks,
    }
    trainer = TRAINER_BUILDERS[recipe.method](recipe, output_dir, train_samples, targs, common)
    # a compact line per step on the console, every metric in metrics.jsonl (a curriculum stage's
    # folder, "stage0-judge", labels its lines)
    folder = Path(output_dir).name
    install_console(trainer, label=folder if folder.startswith("stage") else "")
    return trainer


def _sft_trainer(
    recipe: Recipe, output_dir: Path, train_samples, targs: dict[str, Any], common: dict[str, Any]
):
    from trl import SFTConfig

    from currvl.training.sft import CurrvlSFTTrainer

    return CurrvlSFTTrainer(args=SFTConfig(**targs), train_dataset=to_sft_dataset(train_samples), **common)


def _grpo_trainer(
    recipe: Recipe, output_dir: Path, train_samples, targs: dict[str, Any], common: dict[str, Any]
):
    from currvl.rewards import get_reward_funcs
    from currvl.training.difficulty import order_by_difficulty
    from currvl.training.grpo import CurrvlGRPOTrainer
    from currvl.training.rcpa import CurrvlRCPATrainer
    from currvl.training.reference_probe import DEFAULT_PROBE_EVERY, ReferenceLogprobCallback

    probe = ReferenceLogprobCallback(
        reference_probe_samples(recipe, train_samples), every=targs.get("eval_steps") or DEFAULT_PROBE_EVERY
    )
    rewards = get_reward_funcs(recipe.rewards, **resolve_reward_options(recipe))
    if recipe.method == "rcpa":
        assert recipe.rcpa is not None
        if recipe.rcpa.ordering != "none":
            train_samples = order_by_difficulty(
                common["model"],
                common["processing_class"],
                train_samples,
                recipe.rcpa,
                output_dir,
                recipe.seed,
            )
            targs["shuffle_dataset"] = False
        trainer = CurrvlRCPATrainer(
            args=rl_trainer_config(recipe, targs),
            reward_funcs=rewards,
            train_dataset=to_grpo_dataset(train_samples, with_reference=True),
            **common,
        )
    else:
        trainer = CurrvlGRPOTrainer(
            args=rl_trainer_config(recipe, targs),
            reward_funcs=rewards,
            train_dataset=to_grpo_dataset(train_samples),
            **common,
        )
    probe.trainer = trainer
    trainer.add_callback(probe)
    return trainer


def rl_trainer_config(recipe: Recipe, targs: dict[str, Any]) -> CurrvlGRPOConfig:
    """The typed TRL config of a grpo or rcpa recipe: `targs` (its `trainer:` section on top of the defaults)
    plus its `rollout:` section, and for RCPA its `rcpa:` section, as fields. The sections were checked,
    with FILE:LINE errors, when the recipe was loaded."""
    from currvl.training.trainer_configs import CurrvlGRPOConfig, CurrvlRCPAConfig

    options = {
        "share_vision_encoding": recipe.rollout.share_vision_encoding,
        "dynamic_sampling": recipe.rollout.dynamic_sampling,
    }
    if recipe.method == "rcpa":
        assert recipe.rcpa is not None  # the recipe fills in RCPAConfig() for method rcpa
        return CurrvlRCPAConfig(**targs, **options, rcpa=recipe.rcpa)
    return CurrvlGRPOConfig(**targs, **options)


TRAINER_BUILDERS: dict[str, Callable[..., Any]] = {
    "sft": _sft_trainer,
    "grpo": _grpo_trainer,
    "rcpa": _grpo_trainer,
}
"""The trainer each recipe `method` runs on (RCPA is GRPO with its pre-alignment on top)."""


def resolve_reward_options(recipe: Recipe) -> dict[str, Any]:
    """`reward_options` with a dataset spec in ``cider_corpus`` read into its train split's answers:
    reading data is this layer's job, the rewards take plain references."""
    options = dict(recipe.reward_options)
    corpus = options.get("cider_corpus")
    if isinstance(corpus, (str, os.PathLike, dict)):  # a list of references passes as it is
        options["cider_corpus"] = [s.get("answer") for s in load_source(corpus, split="train")]
    return options


def reference_probe_samples(recipe: Recipe, train_samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fixed domain probe of ``signal/reference_logprob``: the first items of data.eval, else of
    the training set (in file order, so every method of a comparison sees the same items)."""
    from currvl.training.reference_probe import DEFAULT_PROBE_SIZE

    data = recipe.data
    if data.eval:
        samples = load_source(data.eval, image_root=data.image_root, column_map=data.column_map, split="test")
        if samples:
            return samples[:DEFAULT_PROBE_SIZE]
    return train_samples[:DEFAULT_PROBE_SIZE]


def save_final(trainer, final: Path, run_dir: Path) -> list[dict[str, Any]]:
    """What every finished run leaves: the final model and processor, the log history, the curves."""
    from currvl.training.distributed import barrier, process_rank_and_count

    trainer.save_model(str(final))  # the Trainer writes from the main process only
    history = trainer.state.log_history
    if process_rank_and_count()[0] == 0:
        trainer.processing_class.save_pretrained(str(final))
        (run_dir / "log_history.json").write_text(json.dumps(history, indent=2))
        plot_training_curves(history, run_dir / "training_curves.png")
    barrier()  # no rank reads the final folder before it is complete
    return history


def plot_training_curves(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Loss, reward and zero-std-group fraction against step: what people look at first (matplotlib's
    object API on an Agg canvas: pyplot's global backend stays the user's)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = [
        k
        for k in (
            "loss",
            "reward",
            "frac_reward_zero_std",
            "rewards/accuracy/mean",
            ZERO_VARIANCE_TASK_KEY,
            "signal/concept_rate",
            "signal/reference_logprob",
        )
        if any(k in h for h in history)
    ]
    if not keys:
        return None
    fig = Figure(figsize=(4 * len(keys), 3))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(keys), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        pts = [(h["step"], h[key]) for h in history if key in h and "step" in h]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".")
        ax.set_title(key)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
