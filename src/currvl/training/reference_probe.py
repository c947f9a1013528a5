"""Teacher-forced likelihood of the reference answers: the domain signal that moves before accuracy.

A model that lacks a domain concept cannot sample it, so rewards stay at 0 and say nothing about
progress. The log-probability the model gives the reference completion on a fixed domain probe
does move: it is RCPA's difficulty measure before training, and, logged during training
(``signal/reference_logprob``, mean per reference token), it shows whether pre-alignment is
actually teaching the concept.
"""

from __future__ import annotations

import logging
from typing import Any

from transformers import TrainerCallback

from currvl.models.teacher_forcing import reference_nll

log = logging.getLogger(__name__)

DEFAULT_PROBE_SIZE = 32
DEFAULT_PROBE_EVERY = 10


class ReferenceLogprobCallback(TrainerCallback):
    """Logs ``signal/reference_logprob`` on a fixed probe before the first step (it shows in the
    step-1 row) and after every `every` steps, into a TRL GRPO trainer's metrics."""

    def __init__(self, samples: list[dict[str, Any]], every: int = DEFAULT_PROBE_EVERY) -> None:
        if not samples:
            raise ValueError("the reference-likelihood probe needs at least one sample")
        self.samples = samples
        self.every = max(1, every)
        self.trainer: Any = None

    def measure(self, model) -> float:
        processor = self.trainer.processing_class
        nll = reference_nll(model, processor, self.samples)
        return -sum(nll) / len(nll)

    def _log(self, state, model) -> None:
        if self.trainer is None or model is None:
            return
        value = self.measure(model)
        # into the trainer's step metrics, so it lands in the next regular log row (a log call of its
        # own from a callback would flush TRL's pending metrics into a row without the loss)
        self.trainer._metrics["train"]["signal/reference_logprob"].append(value)
        if self.trainer.accelerator.is_main_process:
            log.info(
                "step %d: reference log-prob on the domain probe %.3f nats/token", state.global_step, value
            )

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:
            self._log(state, model)
        return control

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self._log(state, model)
        return control
