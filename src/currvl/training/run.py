"""`currvl train`: recipe -> validated data -> model -> TRL trainer -> saved model, logs and plots."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from transformers.trainer_utils import get_last_checkpoint

from currvl.data.sources import load_source
from currvl.training.builders import OutputDirExistsError, build_trainer, prepare_output_dir, save_final
from currvl.training.distributed import is_main_process
from currvl.training.recipe import Recipe

__all__ = ["OutputDirExistsError", "train"]

log = logging.getLogger(__name__)


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
    if is_main_process():
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
