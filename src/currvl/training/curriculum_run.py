"""Run a GRPO recipe's curriculum (Curr-ReFT stages) in one process, resumable at any point.

Each stage trains in its own folder (`OUT/stage<k>-<name>`) from the previous stage's final model, on
the training data converted to the stage's answer format, and stops at its hand-off (fixed steps, or
windowed accuracy threshold). The curriculum state travels in every checkpoint and in each stage's
final folder, so `--resume` continues in the right stage at the right step.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from currvl.algorithms.signals import ZERO_VARIANCE_TASK_KEY
from currvl.data.formats import concept_items, convert
from currvl.training.curriculum import Curriculum, Stage, Transition, stage_folder
from currvl.training.distributed import barrier, process_rank_and_count
from currvl.training.recipe import Recipe, concept_words
from currvl.training.reliability import TrainingInterrupted, interruption_requested

log = logging.getLogger(__name__)

STATE_FILE = "curriculum_state.json"
ACCURACY_KEY = "rewards/accuracy/mean"


class CurriculumCallback(TrainerCallback):
    """Feeds each step's accuracy reward to the curriculum; stops the stage at its hand-off."""

    def __init__(self, curriculum: Curriculum):
        self.curriculum = curriculum
        self.transition: Transition | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        value = (logs or {}).get(ACCURACY_KEY)
        if value is not None and not math.isnan(value) and self.transition is None:  # NaN: nothing scorable
            self.transition = self.curriculum.record(value)
            if self.transition is not None:
                control.should_training_stop = True
        return control

    def checkpoint_state(self) -> dict[str, Any]:
        """Written into every checkpoint before it is published (see `AtomicCheckpointMixin`)."""
        return {STATE_FILE: self.curriculum.state_dict()}


def stage_metrics(stage: Stage, history: list[dict[str, Any]], first_steps: int = 5) -> dict[str, Any]:
    """What a person compares across stages: rewards and how many groups carried no signal (on the
    task reward over the policy's own rollouts, and TRL's count over every reward and row)."""
    steps = [h for h in history if "reward" in h]

    def mean(key: str, rows: list[dict[str, Any]]) -> float | None:
        vals = [h[key] for h in rows if key in h]
        return sum(vals) / len(vals) if vals else None

    return {
        "stage": stage.name,
        "format": stage.format,
        "steps": len(steps),
        "reward": mean("reward", steps),
        "accuracy_reward": mean(ACCURACY_KEY, steps),
        "frac_reward_zero_std": mean("frac_reward_zero_std", steps),
        f"frac_reward_zero_std_first_{first_steps}": mean("frac_reward_zero_std", steps[:first_steps]),
        "zero_variance_task": mean(ZERO_VARIANCE_TASK_KEY, steps),
        f"zero_variance_task_first_{first_steps}": mean(ZERO_VARIANCE_TASK_KEY, steps[:first_steps]),
    }


def _stage_recipe(recipe: Recipe, stage: Stage, model_path: str | Path) -> Recipe:
    trainer = {**recipe.trainer, "max_steps": stage.max_steps, "logging_steps": 1}
    if stage.num_generations:
        trainer["num_generations"] = stage.num_generations
    return dataclasses.replace(
        recipe,
        model=dataclasses.replace(recipe.model, name_or_path=str(model_path)),
        rewards=list(stage.rewards),
        trainer=trainer,
        curriculum=None,
    )


def _asked_about(recipe: Recipe, stage: Stage, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The training items as the stage asks about them: whole answers, or their concepts."""
    if stage.about == "answer":
        return samples
    return concept_items(samples, concept_words(recipe))


def _anchor_reference(trainer, base_path: str) -> None:
    """Keep the KL reference at the run's starting model instead of this stage's start."""
    from currvl.models.loading import load_model

    if trainer.ref_model is None:
        return
    base, _ = load_model(base_path, dtype=next(trainer.ref_model.parameters()).dtype)
    trainer.accelerator.unwrap_model(trainer.ref_model).load_state_dict(base.state_dict())


def train_curriculum(
    recipe: Recipe,
    train_samples: list[dict[str, Any]],
    out: Path,
    *,
    resume: bool = False,
    callbacks: list | None = None,
) -> Path:
    from currvl.training.builders import build_trainer, save_final

    stages = list(recipe.curriculum or [])  # typed and checked when the recipe was loaded
    curriculum = Curriculum(stages)
    # each stage's items as it asks about them; a stage that cannot ask fails here, before any training
    asked = [_asked_about(recipe, stage, train_samples) for stage in stages]
    model_path: str | Path = recipe.model.name_or_path
    metrics: list[dict[str, Any]] = []
    for k, stage in enumerate(stages):
        stage_dir = out / stage_folder(k, stage.name)
        final = stage_dir / "final"
        if (final / STATE_FILE).exists():  # finished before a crash: take its model and state
            curriculum.load_state_dict(json.loads((final / STATE_FILE).read_text()))
            metrics.append(json.loads((stage_dir / "stage_metrics.json").read_text()))
            model_path = final
            continue
        checkpoint = get_last_checkpoint(str(stage_dir)) if resume and stage_dir.is_dir() else None
        if checkpoint and (Path(checkpoint) / STATE_FILE).exists():
            curriculum.load_state_dict(json.loads((Path(checkpoint) / STATE_FILE).read_text()))
        elif stage_dir.exists():
            checkpoint = None
            # a stage that died before its first checkpoint restarts clean (every rank may try: the
            # first one wins, and none has written there yet)
            shutil.rmtree(stage_dir, ignore_errors=True)
        log.info("curriculum stage %d/%d %r (%s format)", k + 1, len(stages), stage.name, stage.format)
        samples = convert(asked[k], stage.format, seed=recipe.seed)
        hook = CurriculumCallback(curriculum)
        trainer = build_trainer(
            _stage_recipe(recipe, stage, model_path), stage_dir, samples, [hook, *(callbacks or [])]
        )
        if not stage.reset_reference and k > 0:
            _anchor_reference(trainer, recipe.model.name_or_path)
        try:
            trainer.train(resume_from_checkpoint=checkpoint)
        except TrainingInterrupted:
            if curriculum.stage_index == k:  # stopped inside the stage: --resume continues it
                raise
            # the signal came at the hand-off step: the stage is complete, save it below, then stop
        if curriculum.stage_index == k:  # training ended without a logged hand-off (e.g. data ran out)
            raise RuntimeError(
                f"stage {stage.name!r} ended at step {curriculum.stage_step} without a hand-off"
            )
        history = save_final(trainer, final, stage_dir)
        metrics.append(
            {**stage_metrics(stage, history), "hand_off": dataclasses.asdict(curriculum.transitions[-1])}
        )
        if process_rank_and_count()[0] == 0:  # one writer; every rank holds the same curriculum state
            (stage_dir / "stage_metrics.json").write_text(json.dumps(metrics[-1], indent=2))
            (final / STATE_FILE).write_text(
                json.dumps(curriculum.state_dict(), indent=2)
            )  # last: marks the stage done
        barrier()
        model_path = final
        if interruption_requested(trainer) and k + 1 < len(stages):  # never start a stage after a signal
            raise TrainingInterrupted.for_trainer(
                trainer, note=f"Stage {stage.name!r} is complete; the next one starts on resume. "
            )
    if process_rank_and_count()[0] == 0:
        (out / "curriculum_metrics.json").write_text(json.dumps(metrics, indent=2))
    return Path(model_path)
