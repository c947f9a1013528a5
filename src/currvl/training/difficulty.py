"""RCPA's difficulty order of the training set, scored once by the start model.

Difficulty is the start model's mean negative log-likelihood of each sample's reference completion
(`currvl.models.teacher_forcing.reference_nll`); `currvl.algorithms.rcpa.difficulty_order` turns the
scores into an order (easy to hard, or shuffled within windows). The scores are cached in the run
folder, so a resumed run trains on exactly the same order.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from currvl.algorithms.rcpa import RCPAConfig, difficulty_order
from currvl.models.teacher_forcing import reference_nll

log = logging.getLogger(__name__)

CACHE_FILE = "difficulty.json"


def order_by_difficulty(
    model, processor, samples: list[dict[str, Any]], cfg: RCPAConfig, output_dir: Path, seed: int
) -> list[dict[str, Any]]:
    """Samples in RCPA's difficulty order, scored once by the start model and cached in
    `output_dir/difficulty.json`, so a resumed run trains on exactly the same order."""
    cache = Path(output_dir) / CACHE_FILE
    ids = [s.get("id") for s in samples]
    scores = None
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("ids") == ids:
            scores = saved["reference_nll"]
    if scores is None:
        log.info("RCPA: scoring the difficulty of %d samples with the start model", len(samples))
        scores = reference_nll(model, processor, samples)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"ids": ids, "reference_nll": scores}))
    order = difficulty_order(scores, cfg.ordering, cfg.window, seed)
    return [samples[i] for i in order]
