"""Keeping long runs alive and their output usable: interruption, atomic checkpoints, faults in the loop.

Each piece is independent and small:

- `InterruptionCallback` + `InterruptibleTrainMixin`: SIGINT/SIGTERM finish the current optimiser step, save
  a checkpoint and make `trainer.train()` raise `TrainingInterrupted` (so no caller writes a "final" model
  for a run that did not finish); a second signal gets the usual behaviour (quit at once).
- `AtomicCheckpointMixin`: a checkpoint is written to `tmp-checkpoint-N` and renamed to `checkpoint-N` only
  when complete, so a crash mid-save never leaves a half-written folder that `--resume` would pick.
- `NonFiniteLossGuardMixin`: a NaN/inf loss skips that optimiser update with a warning; K in a row stop
  the run with an explanation instead of silently training a broken model.
- `UnscorableRewardMixin`: a sample on which a reward function failed (see
  `currvl.rewards.guard.GuardedReward`) is left out of its group's baseline instead of being scored
  as if the failed reward were 0.

`ReliableTrainerMixin` bundles the first three for the trainer classes; put it first in their bases.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint, rotate_checkpoints

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- interruption


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; rerunning with --resume continues it."""

    def __init__(self, output_dir: str | Path, step: int, checkpoint: str | None = None, note: str = ""):
        self.output_dir = Path(output_dir)
        self.step = step
        self.checkpoint = checkpoint
        where = f"checkpoint saved in {checkpoint}" if checkpoint else f"output in {output_dir}"
        super().__init__(
            f"training interrupted at step {step}; {where}. {note}"
            "Rerun the same command with --resume to continue."
        )

    @classmethod
    def for_trainer(cls, trainer: Any, note: str = "") -> TrainingInterrupted:
        out = trainer.args.output_dir
        checkpoint = get_last_checkpoint(out) if os.path.isdir(out) else None
        return cls(out, trainer.state.global_step, checkpoint, note)


class InterruptionCallback(TrainerCallback):
    """Turns SIGINT/SIGTERM during training into "save a checkpoint at the end of this step, then stop".

    Handlers are installed when training begins and the previous ones restored when it ends (or by
    `restore()`, which `InterruptibleTrainMixin` calls even when training raises). The first signal
    restores them at once, so a second Ctrl-C behaves as usual (KeyboardInterrupt; SIGTERM kills).
    Under torch.distributed the ranks agree at every step end, so all of them stop at the same step.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = tuple(signals)
        self.received: str | None = None  # name of the signal that asked us to stop
        self._previous: dict[int, Any] = {}

    @property
    def interrupted(self) -> bool:
        return self.received is not None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            log.debug("training outside the main thread: SIGINT/SIGTERM are left to their usual handlers")
            return
        if self._previous:
            return
        for sig in self.signals:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Put back the handlers that were there before training (idempotent)."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signal.Signals(signum).name
        self.restore()
        # No logging here: a signal handler may run while the logging lock is held. A raw write is safe.
        msg = (
            f"\n{self.received} received: finishing this step, saving a checkpoint, then stopping. "
            "Send it again to quit at once without saving.\n"
        )
        with contextlib.suppress(OSError):
            os.write(2, msg.encode())

    def _agreed(self, args: Any) -> bool:
        """Whether any rank received a signal (a collective under torch.distributed)."""
        local = self.interrupted
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            flag = torch.tensor([1.0 if local else 0.0], device=args.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            if flag.item() > 0 and not local:
                self.received = "a signal on another rank"
            return flag.item() > 0
        return local

    def on_train_begin(self, args, state, control, **kwargs):
        self.received = None
        self.install()
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if self._agreed(args):
            if not control.should_training_stop:
                log.warning(
                    "stopping at step %d (%s): saving checkpoint-%d in %s",
                    state.global_step,
                    self.received,
                    state.global_step,
                    args.output_dir,
                )
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.restore()
        return control


def interruption_requested(trainer: Any) -> bool:
    """Whether a signal asked `trainer`'s last `train()` call to stop (even at its very last step)."""
    return any(
        cb.interrupted for cb in trainer.callback_handler.callbacks if isinstance(cb, InterruptionCallback)
    )


class InterruptibleTrainMixin:
    """`train()` raises `TrainingInterrupted` when an `InterruptionCallback` stopped it before `max_steps`.

    Raising after `Trainer.train` has returned (not from a callback) lets transformers finish its own
    clean-up, and means no caller can mistake a stopped run for a finished one. A signal that arrives
    during the last step lets the run finish normally (`interruption_requested` still reports it).
    """

    def train(self, *args: Any, **kwargs: Any):
        hooks = [cb for cb in self.callback_handler.callbacks if isinstance(cb, InterruptionCallback)]
        try:
            result = super().train(*args, **kwargs)
        finally:
            for cb in hooks:
                cb.restore()
        if any(cb.interrupted for cb in hooks) and self.state.global_step < self.state.max_steps:
            raise TrainingInterrupted.for_trainer(self)
        return result


# ------------------------------------------------------------------------------------ atomic checkpoints

STAGING_PREFIX = "tmp-"  # tmp-checkpoint-N (being written), tmp-old-checkpoint-N (being replaced)


def remove_stale_staging(run_dir: str | Path) -> list[Path]:
    """Delete checkpoint folders left half-written by a crash; returns what was removed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    stale = sorted(p for p in run_dir.glob(f"{STAGING_PREFIX}*{PREFIX_CHECKPOINT_DIR}-*") if p.is_dir())
    for path in stale:
        log.warning("removing %s: an incomplete checkpoint left by an earlier crash", path)
        shutil.rmtree(path, ignore_errors=True)
    return stale


class AtomicCheckpointMixin:
    """Checkpoints appear under their final name (`checkpoint-N`) only once completely written.

    `Trainer._save_checkpoint` (and TRL's override, which adds the model card and its own state files) write
    into `OUT/tmp-checkpoint-N/checkpoint-N` because `_get_output_dir` points there during the save; the
    folder is then renamed to `OUT/checkpoint-N` (atomic on one filesystem) and the `save_total_limit`
    rotation, which found nothing to rotate in the staging folder, runs on OUT. `get_last_checkpoint` only
    matches `checkpoint-<digits>`, so a crash mid-save leaves the previous checkpoint as the last one.
    With `push_to_hub` the plain save is kept: hub uploads read the checkpoint folder later, by its name.
    """

    _currvl_staging: str | None = None

    def _get_output_dir(self, trial: Any) -> str:
        if self._currvl_staging is not None:
            return self._currvl_staging
        return super()._get_output_dir(trial)

    def train(self, *args: Any, **kwargs: Any):
        if self.args.should_save:
            remove_stale_staging(super()._get_output_dir(None))
        return super().train(*args, **kwargs)

    def _extra_checkpoint_state(self) -> dict[str, Any]:
        """Run state the Trainer does not know (curriculum stage, RCPA progress), as {file name: JSON data},
        written into the checkpoint before it is published, so a checkpoint never lacks it. Callbacks
        contribute by defining `checkpoint_state()`; trainers may extend this method."""
        out: dict[str, Any] = {}
        for callback in self.callback_handler.callbacks:
            contribute = getattr(callback, "checkpoint_state", None)
            if callable(contribute):
                out.update(contribute())
        return out

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        if self.args.push_to_hub:
            return super()._save_checkpoint(model, trial)
        run_dir = super()._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = os.path.join(run_dir, f"{STAGING_PREFIX}{name}")
        if self.args.should_save:
            remove_stale_staging(run_dir)
        self.accelerator.wait_for_everyone()  # nobody writes into a folder the main process is deleting
        self._currvl_staging = staging
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._currvl_staging = None
        staged = os.path.join(staging, name)
        final = os.path.join(run_dir, name)
        if self.args.should_save and os.path.isdir(staged):
            for filename, data in self._extra_checkpoint_state().items():
                with open(os.path.join(staged, filename), "w") as f:
                    json.dump(data, f, indent=2)
        best = self.state.best_model_checkpoint
        if best is not None and best.startswith(staging):  # the best one is this one, under its final name
            self.state.best_model_checkpoint = os.path.join(run_dir, os.path.basename(best))
            if self.args.should_save:
                self.state.save_to_json(os.path.join(staged, "trainer_state.json"))
        self.accelerator.wait_for_everyone()  # every rank's shards are in before the rename
        if self.args.should_save:
            _publish(staged, final, staging)
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )
        self.accelerator.wait_for_everyone()


def _publish(staged: str, final: str, staging: str) -> None:
    """Rename the finished checkpoint into place, replacing one of the same step if any."""
    old = None
    if os.path.isdir(final):  # the same step saved twice: swap, then drop the old copy
        old = os.path.join(os.path.dirname(final), f"{STAGING_PREFIX}old-{os.path.basename(final)}")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
    os.rename(staged, final)
    _fsync_dir(os.path.dirname(final))
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


def _fsync_dir(path: str) -> None:
    """Make the rename itself durable where the OS allows it (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------- non-finite loss

MAX_NONFINITE_ENV = "CURRVL_MAX_NONFINITE_LOSSES"
DEFAULT_MAX_NONFINITE = 3


class NonFiniteLossError(RuntimeError):
    """The loss was NaN/inf for too many optimiser steps in a row: the run cannot recover by itself."""


def max_nonfinite_losses() -> int:
    """K: consecutive non-finite optimiser steps tolerated (env CURRVL_MAX_NONFINITE_LOSSES, default 3)."""
    raw = os.environ.get(MAX_NONFINITE_ENV, "")
    try:
        return max(1, int(raw)) if raw.strip() else DEFAULT_MAX_NONFINITE
    except ValueError:
        raise ValueError(f"{MAX_NONFINITE_ENV} must be a whole number, got {raw!r}") from None


class NonFiniteLossGuardMixin:
    """A NaN/inf loss skips that optimiser update; K consecutive ones raise `NonFiniteLossError`.

    The update is skipped by dropping the accumulated gradients (`grad = None`) at the last micro-batch of
    the step: the optimiser then leaves every parameter and its moments untouched (zeroed gradients would
    still move the weights through Adam's momentum and weight decay). The learning-rate schedule still
    advances. Under DeepSpeed the engine steps inside backward, so the update cannot be undone there; the
    guard then only warns and counts.
    """

    _currvl_bad_window = False
    _currvl_nonfinite_streak = 0

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        bad = not bool(torch.isfinite(loss).all())
        if self.accelerator.num_processes > 1:  # gradients are shared: every rank must skip together
            flag = torch.tensor([1.0 if bad else 0.0], device=loss.device)
            bad = bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)
        if bad:
            self._currvl_bad_window = True
        if self.accelerator.sync_gradients:  # last micro-batch: the optimiser steps next
            if self._currvl_bad_window:
                self._skip_update(model, loss)
            else:
                self._currvl_nonfinite_streak = 0
            self._currvl_bad_window = False
        return loss

    def _skip_update(self, model: Any, loss: torch.Tensor) -> None:
        self._currvl_nonfinite_streak += 1
        streak, limit = self._currvl_nonfinite_streak, max_nonfinite_losses()
        step = self.state.global_step + 1
        if streak >= limit:
            raise NonFiniteLossError(
                f"step {step}: the loss was non-finite ({loss.item()}) for {streak} optimiser steps in a row; "
                "stopping. Usual causes: a learning rate too high, fp16 overflow (prefer bf16), or a reward "
                f"or data value that is NaN/inf. Resume from the last checkpoint in {self.args.output_dir} "
                f"after fixing it (tolerance: {MAX_NONFINITE_ENV}={limit})."
            )
        if self.is_deepspeed_enabled:
            log.warning(
                "step %d: loss is %s; DeepSpeed has already applied this update (%d/%d in a row)",
                step,
                loss.item(),
                streak,
                limit,
            )
            return
        model.zero_grad(set_to_none=True)
        log.warning(
            "step %d: loss is %s; skipping this update (%d/%d non-finite steps in a row before stopping)",
            step,
            loss.item(),
            streak,
            limit,
        )


class ReliableTrainerMixin(InterruptibleTrainMixin, AtomicCheckpointMixin, NonFiniteLossGuardMixin):
    """Interruption, atomic checkpoints and the non-finite loss guard, for any `transformers.Trainer`."""


# ---------------------------------------------------------------------------------- unscorable samples


class UnscorableRewardMixin:
    """GRPO: a sample on which a reward function failed is excluded from its group's baseline.

    TRL sums reward functions with `nansum`, so a failed (None/NaN) score silently counts as 0 and skews the
    group mean and the sample's advantage. Reward callables that report `failed_indices` (currvl's
    `GuardedReward` does) mark those samples; the sample's whole row is set to NaN, which TRL treats as
    unscorable: left out of the group mean/std, advantage forced to 0. When a function failed for every
    sample of a group, the group is simply scored without it (consistently), so a batch-wide failure does
    not throw the whole step away.
    """

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        failed = torch.zeros(len(prompts), len(self.reward_funcs), device=rewards_per_func.device)
        for j, func in enumerate(self.reward_funcs):
            for i in getattr(func, "failed_indices", ()):
                if 0 <= i < len(prompts):
                    failed[i, j] = 1.0
        failed = self.accelerator.gather(failed).bool()  # same row order as the gathered rewards
        if not failed.any():
            return rewards_per_func
        group = self.num_generations if self.model.training else self.num_generations_eval
        if group and failed.shape[0] % group == 0:
            grouped = failed.view(-1, group, failed.shape[1])
            whole_group = grouped.all(dim=1, keepdim=True)  # failed for all: score the group without it
            exclude = (grouped & ~whole_group).any(dim=2).view(-1)
        else:
            exclude = failed.any(dim=1)
        if exclude.any():
            rewards_per_func = rewards_per_func.clone()
            rewards_per_func[exclude] = torch.nan
        return rewards_per_func
