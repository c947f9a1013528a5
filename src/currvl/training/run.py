"""`currvl train`: recipe -> validated data -> model -> TRL trainer -> saved model, logs and plots."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import yaml
from transformers.trainer_utils import get_last_checkpoint

from currvl.data.sources import load_source
from currvl.models.loading import resolve_model_path
from currvl.training.builders import (
    OutputDirExistsError,
    build_trainer,
    holds_anything,
    prepare_output_dir,
    save_final,
)
from currvl.training.distributed import is_main_process
from currvl.training.recipe import Recipe, RecipeError

__all__ = ["DONE_FILE", "OutputDirExistsError", "train"]

DONE_FILE = "run_done.json"
"""Written last by a run that finished (its final model's folder): --resume of it changes nothing."""

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
        raise RecipeError(
            f"{recipe.source}: data.train: no usable samples (every row was skipped, or the source is empty)"
        )
    if data.formats:
        from currvl.data.formats import mix_formats

        train_samples = mix_formats(train_samples, data.formats, seed=recipe.seed)
    si_samples = None
    if recipe.self_improve is not None:
        from currvl.training.self_improve_run import load_self_improve_data, run_self_improvement

        si_samples = load_self_improve_data(recipe)
    if overwrite and resume:
        raise RecipeError(f"{recipe.source}: --overwrite replaces a run and --resume continues it; pass one")
    resolve_model_path(recipe.model.name_or_path)  # a missing folder fails before the folder is claimed
    fresh = not holds_anything(recipe.output_dir)
    out = prepare_output_dir(recipe.output_dir, overwrite=overwrite, resume=resume)
    recipe_text = yaml.safe_dump(_recipe_dict(recipe), sort_keys=False)
    if resume and is_main_process():  # rank 0 checks as it checked the folder: its refusal ends the launch
        _check_resumed_recipe(recipe, recipe_text, out)
    try:
        if is_main_process():
            (out / "recipe.yaml").write_text(recipe_text)
        if recipe.curriculum:
            from currvl.training.curriculum_run import train_curriculum

            final = train_curriculum(recipe, train_samples, out, resume=resume, callbacks=callbacks)
        else:
            final = _train_single(recipe, out, train_samples, resume=resume, callbacks=callbacks)
        if si_samples is not None:
            final = run_self_improvement(recipe, final, out, si_samples, resume=resume, callbacks=callbacks)
    except BaseException:
        if fresh and is_main_process() and not _trained_anything(out):
            shutil.rmtree(out, ignore_errors=True)  # the folder was empty: a fixed rerun needs no --overwrite
        raise
    if is_main_process():
        (out / DONE_FILE).write_text(json.dumps({"final": str(final)}, indent=2))
    return final


def _trained_anything(out: Path) -> bool:
    """Whether a run folder holds anything a resume could use (a checkpoint, a log, a model)."""
    return any(
        any(out.rglob(pattern)) for pattern in ("checkpoint-*", "log_history.json", "final", "*.safetensors")
    )


def _check_resumed_recipe(recipe: Recipe, recipe_text: str, out: Path) -> None:
    """--resume with a recipe that says something else than the run's recipe.yaml: an unfinished run
    continues under the new one (Trainer's way to lengthen or shorten a run: `--set
    trainer.max_steps=N`), said in a warning; a finished run would ignore it and return its old model,
    so that is refused. Keys the saved file lacks (an older currvl) are not compared."""
    saved_file = out / "recipe.yaml"
    if not saved_file.exists():
        return
    saved = _flatten(yaml.safe_load(saved_file.read_text()) or {})
    now = _flatten(yaml.safe_load(recipe_text))
    changed = [key for key in saved if key in now and now[key] != saved[key]]
    if not changed:
        return
    shown = "; ".join(f"{k}: {saved[k]!r} -> {now[k]!r}" for k in changed[:5])
    shown += f" (and {len(changed) - 5} more)" if len(changed) > 5 else ""
    if (out / DONE_FILE).exists():
        raise RecipeError(
            f"{recipe.source}: --resume: the run in {out} has finished, and this recipe differs from the one "
            f"it ran ({shown}); train into a new output_dir (model.name_or_path: its final model to go on "
            "from it), or pass --overwrite to run it again"
        )
    log.warning("--resume with a changed recipe (%s): the run continues under the new one", shown)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"trainer": {"max_steps": 3}} -> {"trainer.max_steps": 3} (an empty section stays a leaf)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


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
