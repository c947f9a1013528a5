"""Curr-ReFT stage B inside `currvl train`: after the RL stages, sample on a general mix, keep the good
answers, fine-tune on them with a tiny learning rate. Resumable: each part leaves a marker when done.

Layout under the run folder:
    self-improve/kept.jsonl (+ images/)   what the model will be fine-tuned on, for people to read
    self-improve/stats.json               sampling statistics; written last, marks sampling done
    self-improve/sft/checkpoint-*         the fine-tune's checkpoints (resume continues from them)
    self-improve/sft/final                the run's final model
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers.trainer_utils import get_last_checkpoint

from currvl.training.curriculum import SELF_IMPROVE_FOLDER
from currvl.training.distributed import process_rank_and_count
from currvl.training.recipe import Recipe, SelfImproveRunConfig

log = logging.getLogger(__name__)

DEFAULT_LEARNING_RATE = 2e-7  # the paper's stage-B learning rate
DONE_FILE = "self_improve_done.json"


def load_self_improve_data(recipe: Recipe) -> list[dict[str, Any]]:
    """The general-purpose mix, validated up front (a bad row fails before any training starts)."""
    from currvl.data.sources import load_source

    si = recipe.self_improve
    assert si is not None
    sources = si.data if isinstance(si.data, list) else [si.data]
    samples: list[dict[str, Any]] = []
    seen: set[str] = set()
    for k, source in enumerate(sources):
        for sample in load_source(
            source, image_root=recipe.data.image_root, on_error=recipe.data.on_error, split="train"
        ):
            if sample.get("id") in seen:  # two sources may number their items alike
                sample = {**sample, "id": f"{sample['id']}-src{k}"}
            seen.add(sample.get("id"))
            samples.append(sample)
    if not samples:
        raise ValueError(f"{recipe.source}: self_improve.data: no usable samples")
    return samples


def _sample_and_filter(
    recipe: Recipe, model_path: str | Path, samples: list[dict[str, Any]], folder: Path
) -> dict[str, Any]:
    from currvl.algorithms.self_improve import merge_stats, self_improvement_set, write_self_improvement
    from currvl.models.loading import inference_placement, load_model

    si = recipe.self_improve
    assert si is not None
    stats_file = folder / "stats.json"
    rank, world = process_rank_and_count()
    if stats_file.exists():  # sampled before a crash: reuse the kept set as it is
        return json.loads(stats_file.read_text())
    if world > 1:  # every rank must have seen stats.json, or its absence, before rank 0 rewrites the folder
        torch.distributed.barrier()
    if rank == 0:
        if folder.exists():
            shutil.rmtree(folder)  # a sampling pass that died half-way restarts clean
        folder.mkdir(parents=True)
    model, processor = load_model(str(model_path), **inference_placement())
    torch.manual_seed(recipe.seed + rank)  # each process samples its own share of the queries
    shard = samples[rank::world]
    log.info("self-improvement: sampling %d answers for each of %d queries", si.num_samples, len(shard))
    kept, stats = self_improvement_set(model, processor, shard, si)  # its sampling settings
    del model
    if world > 1:  # rank 0 gathers every share (rank order) and writes the kept set
        parts: list[Any] = [None] * world
        torch.distributed.all_gather_object(parts, (kept, stats))
        kept = [item for part_kept, _ in parts for item in part_kept]
        stats = merge_stats([part_stats for _, part_stats in parts])
    if rank == 0:
        write_self_improvement(kept, stats, folder)
    if world > 1:  # the others read the kept set only once it is written
        torch.distributed.barrier()
    log.info(
        "self-improvement: kept %d answers (%d of %d queries) at threshold %.0f",
        stats["kept"],
        stats["queries_with_a_kept_answer"],
        stats["queries"],
        si.threshold,
    )
    return stats


def _sft_recipe(recipe: Recipe, si: SelfImproveRunConfig, model_path: str | Path, kept_file: Path) -> Recipe:
    return dataclasses.replace(
        recipe,
        method="sft",
        model=dataclasses.replace(recipe.model, name_or_path=str(model_path)),
        data=dataclasses.replace(recipe.data, train=str(kept_file), formats=None, column_map=None),
        trainer={"learning_rate": DEFAULT_LEARNING_RATE, **si.trainer},
        curriculum=None,
        self_improve=None,
    )


def run_self_improvement(
    recipe: Recipe,
    model_path: str | Path,
    out: Path,
    samples: list[dict[str, Any]],
    *,
    resume: bool = False,
    callbacks: list | None = None,
) -> Path:
    """Stage B from the RL model at `model_path`; returns the folder of the final model."""
    from currvl.data.io import read_jsonl
    from currvl.training.builders import build_trainer, save_final

    si = recipe.self_improve
    assert si is not None
    folder = out / SELF_IMPROVE_FOLDER
    sft_dir = folder / "sft"
    final = sft_dir / "final"
    if (final / DONE_FILE).exists():
        return final
    stats = _sample_and_filter(recipe, model_path, samples, folder)
    kept_file = folder / "kept.jsonl"
    if stats["kept"] == 0:
        log.warning(
            "self-improvement kept no answer at threshold %.0f: the RL model at %s is the final model",
            si.threshold,
            model_path,
        )
        return Path(model_path)
    checkpoint = get_last_checkpoint(str(sft_dir)) if resume and sft_dir.is_dir() else None
    rank, world = process_rank_and_count()
    if checkpoint is None and sft_dir.exists() and rank == 0:
        shutil.rmtree(sft_dir)  # died before its first checkpoint: start the fine-tune clean
    if world > 1:
        torch.distributed.barrier()
    kept = read_jsonl(kept_file, validate=True)
    trainer = build_trainer(_sft_recipe(recipe, si, model_path, kept_file), sft_dir, kept, callbacks)
    trainer.train(resume_from_checkpoint=checkpoint)
    save_final(trainer, final, sft_dir)
    summary = {**stats, "from_model": str(model_path), "sft_steps": trainer.state.global_step}
    (final / DONE_FILE).write_text(json.dumps(summary, indent=2))  # last: marks stage B done
    return final
