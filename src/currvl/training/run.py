"""`currvl train`: recipe -> validated data -> model -> TRL trainer -> saved model, logs and plots."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers.trainer_utils import get_last_checkpoint

from currvl.models.loading import load_model
from currvl.training.datasets import load_source, to_grpo_dataset, to_sft_dataset
from currvl.training.recipe import Recipe

log = logging.getLogger(__name__)


class OutputDirExistsError(FileExistsError):
    pass


def prepare_output_dir(output_dir: str | Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Never clobber a previous run: an occupied folder needs an explicit --resume or --overwrite."""
    out = Path(output_dir)
    occupied = out.exists() and any(out.iterdir())
    if occupied and not (overwrite or resume):
        raise OutputDirExistsError(
            f"{out} already holds a run; pass --resume to continue it or --overwrite to replace it"
        )
    if occupied and overwrite and not resume:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def default_trainer_args(method: str, on_gpu: bool) -> dict[str, Any]:
    """Settings that make a recipe run sensibly on this hardware; anything in `trainer:` overrides them."""
    args: dict[str, Any] = {
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": 50,
        "report_to": ["tensorboard"],
        "bf16": on_gpu,
        "use_cpu": not on_gpu,
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
    }
    if method in ("grpo", "rcpa"):
        args.update(
            {"num_generations": 4, "max_completion_length": 64, "beta": 0.04, "log_completions": False}
        )
    return args


def build_trainer(
    recipe: Recipe, output_dir: Path, train_samples: list[dict[str, Any]], callbacks: list | None = None
):
    """The TRL trainer for `recipe` (model loaded, data converted); no training yet."""
    from trl import GRPOConfig, SFTConfig

    from currvl.rewards import get_reward_funcs
    from currvl.training.grpo import CurrvlGRPOTrainer
    from currvl.training.reliability import InterruptionCallback
    from currvl.training.sft import CurrvlSFTTrainer

    # SIGINT/SIGTERM: save a checkpoint at the step end, then `trainer.train()` raises TrainingInterrupted
    callbacks = [*(callbacks or []), InterruptionCallback()]
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
    if recipe.method == "sft":
        args = SFTConfig(**targs)
        return CurrvlSFTTrainer(
            model=model,
            args=args,
            train_dataset=to_sft_dataset(train_samples),
            processing_class=processor,
            peft_config=peft_config,
            callbacks=callbacks,
        )
    from currvl.training.reference_probe import DEFAULT_PROBE_EVERY, ReferenceLogprobCallback

    probe = ReferenceLogprobCallback(
        reference_probe_samples(recipe, train_samples), every=targs.get("eval_steps") or DEFAULT_PROBE_EVERY
    )
    if recipe.method == "rcpa":
        from currvl.training.rcpa import CurrvlRCPATrainer, order_by_difficulty

        assert recipe.rcpa is not None
        if recipe.rcpa.ordering != "none":
            train_samples = order_by_difficulty(
                model, processor, train_samples, recipe.rcpa, output_dir, recipe.seed
            )
            targs["shuffle_dataset"] = False
        trainer = CurrvlRCPATrainer(
            model=model,
            args=GRPOConfig(**targs),
            reward_funcs=get_reward_funcs(recipe.rewards, **recipe.reward_options),
            train_dataset=to_grpo_dataset(train_samples, with_reference=True),
            processing_class=processor,
            peft_config=peft_config,
            callbacks=callbacks,
            rcpa=recipe.rcpa,
        )
    else:
        trainer = CurrvlGRPOTrainer(
            model=model,
            args=GRPOConfig(**targs),
            reward_funcs=get_reward_funcs(recipe.rewards, **recipe.reward_options),
            train_dataset=to_grpo_dataset(train_samples),
            processing_class=processor,
            peft_config=peft_config,
            callbacks=callbacks,
        )
    probe.trainer = trainer
    trainer.add_callback(probe)
    return trainer


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


def train(
    recipe: Recipe, *, overwrite: bool = False, resume: bool = False, callbacks: list | None = None
) -> Path:
    """Run one recipe end to end and return the folder holding the final model.

    A recipe with `curriculum:` stages runs them in sequence (see `currvl.training.curriculum_run`);
    a `self_improve:` section then runs rejection-sampling self-improvement on the result
    (`currvl.training.self_improve_run`), whose fine-tuned model is the final one.
    """
    data = recipe.data
    # Data first: a bad row must fail before minutes of model loading, and before the output dir is touched.
    train_samples = load_source(
        data.train,
        image_root=data.image_root,
        on_error=data.on_error,
        column_map=data.column_map,
        split="train",
    )
    if not train_samples:
        raise ValueError(f"{recipe.source}: data.train: no usable samples")
    if data.formats:
        from currvl.data.formats import mix_formats

        train_samples = mix_formats(train_samples, data.formats, seed=recipe.seed)
    si_samples = None
    if recipe.self_improve is not None:
        from currvl.training.self_improve_run import load_self_improve_data, run_self_improvement

        si_samples = load_self_improve_data(recipe)
    out = prepare_output_dir(recipe.output_dir, overwrite=overwrite, resume=resume)
    (out / "recipe.yaml").write_text(yaml.safe_dump(_recipe_dict(recipe), sort_keys=False))
    if recipe.curriculum:
        from currvl.training.curriculum_run import train_curriculum

        final = train_curriculum(recipe, train_samples, out, resume=resume, callbacks=callbacks)
    else:
        final = _train_single(recipe, out, train_samples, resume=resume, callbacks=callbacks)
    if si_samples is not None:
        final = run_self_improvement(recipe, final, out, si_samples, resume=resume, callbacks=callbacks)
    return final


def _train_single(
    recipe: Recipe,
    out: Path,
    train_samples: list[dict[str, Any]],
    *,
    resume: bool = False,
    callbacks: list | None = None,
) -> Path:
    final = out / "final"
    if resume and (out / "log_history.json").exists() and final.is_dir():
        return final  # finished before a later phase (self-improvement) was interrupted
    trainer = build_trainer(recipe, out, train_samples, callbacks)
    checkpoint = get_last_checkpoint(str(out)) if resume else None
    if resume and checkpoint is None:
        log.warning("--resume: no checkpoint in %s yet, starting from scratch", out)
    trainer.train(resume_from_checkpoint=checkpoint)
    save_final(trainer, final, out)
    return final


def _recipe_dict(recipe: Recipe) -> dict[str, Any]:
    import dataclasses

    d = dataclasses.asdict(recipe)
    d.pop("source", None)
    return d


def save_final(trainer, final: Path, run_dir: Path) -> list[dict[str, Any]]:
    """What every finished run leaves: the final model and processor, the log history, the curves."""
    trainer.save_model(str(final))
    trainer.processing_class.save_pretrained(str(final))
    history = trainer.state.log_history
    (run_dir / "log_history.json").write_text(json.dumps(history, indent=2))
    plot_training_curves(history, run_dir / "training_curves.png")
    return history


def plot_training_curves(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Loss, reward and zero-std-group fraction against step: what people look at first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        k
        for k in (
            "loss",
            "reward",
            "frac_reward_zero_std",
            "rewards/accuracy/mean",
            "signal/zero_variance_task",
            "signal/concept_rate",
            "signal/reference_logprob",
        )
        if any(k in h for h in history)
    ]
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        pts = [(h["step"], h[key]) for h in history if key in h and "step" in h]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".")
        ax.set_title(key)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
