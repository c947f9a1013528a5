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

import torch
from transformers import TrainerCallback

from currvl.data.io import open_image
from currvl.data.prompts import prompt_messages, target_text

log = logging.getLogger(__name__)

DEFAULT_PROBE_SIZE = 32
DEFAULT_PROBE_EVERY = 10


@torch.no_grad()
def teacher_forced_logits(
    model, processor, samples: list[dict[str, Any]], completions: list[str]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One batch through `model` with each completion appended to its prompt: per row, the logits
    that predict the completion's tokens (n, vocab) and those tokens (n,). Left padding keeps every
    completion at the end of its row."""
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"
    texts = [
        processor.apply_chat_template(prompt_messages(s), add_generation_prompt=True, tokenize=False) + c
        for s, c in zip(samples, completions, strict=True)
    ]
    images = [open_image(s["image"]) for s in samples if s.get("image") is not None]
    kwargs = {"images": images} if images else {}
    enc = processor(text=texts, padding=True, return_tensors="pt", **kwargs).to(
        next(model.parameters()).device
    )
    lengths = [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in completions]
    logits = model(**enc).logits
    end = logits.shape[1]
    # the logit at position t predicts token t + 1
    return [
        (logits[row, end - n - 1 : end - 1], enc["input_ids"][row, end - n :])
        for row, n in enumerate(lengths)
    ]


def reference_token_nll(
    model, processor, samples: list[dict[str, Any]], batch_size: int = 8
) -> list[torch.Tensor]:
    """Per sample, the NLL (nats) of each token of its reference completion, teacher-forced."""
    was_training = model.training
    model.eval()
    out: list[torch.Tensor] = []
    for start in range(0, len(samples), batch_size):
        batch = samples[start : start + batch_size]
        for logits, ids in teacher_forced_logits(model, processor, batch, [target_text(s) for s in batch]):
            out.append(-torch.log_softmax(logits.float(), dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1))
    model.train(was_training)
    return out


def reference_nll(model, processor, samples: list[dict[str, Any]], batch_size: int = 8) -> list[float]:
    """Per-sample mean NLL (nats per token) of the reference completion under `model`."""
    return [nll.mean().item() for nll in reference_token_nll(model, processor, samples, batch_size)]


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
        log.info("step %d: reference log-prob on the domain probe %.3f nats/token", state.global_step, value)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:
            self._log(state, model)
        return control

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self._log(state, model)
        return control
