"""The reference-likelihood callback: logs -mean NLL of the probe into the trainer's step metrics,
before the first step and every `every` steps, on the main process's console only."""

from __future__ import annotations

import logging
from collections import defaultdict
from types import SimpleNamespace

import pytest

from currvl.data.synthetic import make_samples
from currvl.models import load_model
from currvl.models.teacher_forcing import reference_nll
from currvl.training.reference_probe import ReferenceLogprobCallback


def _trainer(processor, main: bool = True):
    return SimpleNamespace(
        processing_class=processor,
        _metrics={"train": defaultdict(list)},
        accelerator=SimpleNamespace(is_main_process=main),
    )


def test_logs_the_mean_reference_logprob_at_the_start_and_every_n_steps(tiny_model_dir, caplog):
    model, processor = load_model(tiny_model_dir)
    samples = make_samples("scan", "test", 3)
    cb = ReferenceLogprobCallback(samples, every=2)
    cb.trainer = _trainer(processor)
    expected = -sum(reference_nll(model, processor, samples)) / 3
    state = SimpleNamespace(global_step=0, max_steps=5)
    with caplog.at_level(logging.INFO, logger="currvl.training.reference_probe"):
        cb.on_train_begin(None, state, None, model=model)
        for step in range(1, 6):
            state.global_step = step
            cb.on_step_end(None, state, None, model=model)
    logged = cb.trainer._metrics["train"]["signal/reference_logprob"]
    assert len(logged) == 4  # steps 0, 2, 4 and the last (5)
    assert logged[0] == pytest.approx(expected, abs=1e-5) and logged[0] < 0
    assert [r.message.split(":")[0] for r in caplog.records] == ["step 0", "step 2", "step 4", "step 5"]


def test_other_ranks_measure_but_do_not_print(tiny_model_dir, caplog):
    model, processor = load_model(tiny_model_dir)
    cb = ReferenceLogprobCallback(make_samples("scan", "test", 1))
    cb.trainer = _trainer(processor, main=False)
    with caplog.at_level(logging.INFO, logger="currvl.training.reference_probe"):
        cb.on_train_begin(None, SimpleNamespace(global_step=0, max_steps=1), None, model=model)
    assert len(cb.trainer._metrics["train"]["signal/reference_logprob"]) == 1 and not caplog.records


def test_a_resumed_run_does_not_log_a_step_zero_row_and_an_empty_probe_is_refused(tiny_model_dir):
    model, processor = load_model(tiny_model_dir)
    cb = ReferenceLogprobCallback(make_samples("scan", "test", 1))
    cb.trainer = _trainer(processor)
    cb.on_train_begin(None, SimpleNamespace(global_step=7, max_steps=10), None, model=model)
    assert not cb.trainer._metrics["train"]["signal/reference_logprob"]
    with pytest.raises(ValueError, match="at least one sample"):
        ReferenceLogprobCallback([])
