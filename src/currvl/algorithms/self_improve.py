"""Rejection-sampling self-improvement (Curr-ReFT stage B): sample, score 0-100, keep the best, SFT on it.

The paper sampled N answers per query from the RL model on a general multimodal + text mix, had GPT-4o
score each 0-100, kept answers scoring >= 85 (the best per query) and fine-tuned on them with lr 2e-7.
Its release has no code for this stage. Here scoring is rule-based wherever a reference answer exists
(100 x accuracy when the answer format is right) and a pluggable judge (any `(sample, completion) ->
0..100` callable, e.g. `model_judge` on a local VLM) scores the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from currvl.rewards import extract_answer, format_reward, score_answer

Judge = Callable[[dict[str, Any], str], float]

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


@dataclass
class SelfImproveConfig:
    num_samples: int = 4  # answers drawn per query
    temperature: float = 1.0
    max_new_tokens: int = 256
    threshold: float = 85.0  # keep answers scoring at least this (0-100)
    keep: str = "best"  # "best": the best kept answer per query; "all": every answer at/above threshold
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.keep not in ("best", "all"):
            raise ValueError(f"keep: must be 'best' or 'all', got {self.keep!r}")
        if not 0 <= self.threshold <= 100:
            raise ValueError(f"threshold: is on a 0-100 scale, got {self.threshold}")
        self.temperature = float(self.temperature)  # YAML's `2` is an int; transformers' sampler takes floats
        if not self.temperature > 0:
            raise ValueError(f"temperature: must be > 0 (answers are sampled), got {self.temperature}")
        for name in ("num_samples", "max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")


def rule_score(sample: dict[str, Any], completion: str) -> float | None:
    """100 x accuracy for a well-formatted answer, 0 for a badly formatted one; None without a reference."""
    if not sample.get("answer"):
        return None
    if format_reward([None], [completion], task=[sample["task"]])[0] != 1.0:
        return 0.0
    return 100.0 * score_answer(extract_answer(completion), sample["answer"], sample["task"])


def select(scores: list[list[float]], threshold: float, keep: str = "best") -> list[tuple[int, int, float]]:
    """(query index, sample index, score) of the answers to keep: score >= threshold, best first per query."""
    kept = []
    for qi, row in enumerate(scores):
        passing = sorted(((s, si) for si, s in enumerate(row) if s >= threshold), key=lambda x: (-x[0], x[1]))
        if keep == "best":
            passing = passing[:1]
        kept.extend((qi, si, s) for s, si in passing)
    return kept


def model_judge(model, processor, max_new_tokens: int = 16) -> Judge:
    """A judge that asks a (local) VLM to rate an answer 0-100 and reads the first number it writes."""
    from currvl.models.generation import generate

    def judge(sample: dict[str, Any], completion: str) -> float:
        prompt = dict(
            sample,
            question=(
                f"Question: {sample['question']}\nAnswer: {completion}\nRate the answer from 0 to 100 for "
                "accuracy, logical consistency, format compliance and fluency. Reply with the number only."
            ),
            task="math",
            options=None,
        )
        reply = generate(
            model, processor, [prompt], max_new_tokens=max_new_tokens, with_suffix=False, show_progress=False
        )[0]
        match = re.search(r"\d+(?:\.\d+)?", reply)
        return min(100.0, float(match.group())) if match else 0.0

    return judge


def as_sft_sample(sample: dict[str, Any], completion: str, score: float, index: int = 0) -> dict[str, Any]:
    """The kept answer as a schema sample whose SFT target reproduces the completion's think and answer."""
    think = _THINK.search(completion)
    # untagged answers (judged free text) are kept whole
    answer = extract_answer(completion) or completion.strip() or sample["answer"]
    out = dict(sample)
    out.update(
        id=f"{sample.get('id') or 'item'}-kept{index}",
        answer=answer,
        rationale=think.group(1).strip() if think else "",
        score=score,
    )
    return out


def self_improvement_set(
    model,
    processor,
    samples: list[dict[str, Any]],
    cfg: SelfImproveConfig | None = None,
    judge: Judge | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Sample, score and filter; returns (kept SFT samples, statistics)."""
    from currvl.models.generation import generate

    cfg = cfg or SelfImproveConfig()
    completions = generate(
        model,
        processor,
        samples,
        batch_size=cfg.batch_size,
        max_new_tokens=cfg.max_new_tokens,
        num_samples=cfg.num_samples,
        temperature=cfg.temperature,
    )
    scores: list[list[float]] = []
    judged = 0
    for qi, sample in enumerate(samples):
        row = []
        for c in completions[qi * cfg.num_samples : (qi + 1) * cfg.num_samples]:
            score = rule_score(sample, c)
            if score is None:
                if judge is None:
                    raise ValueError(
                        f"sample {sample.get('id')!r} has no reference answer and no judge was given"
                    )
                score, judged = float(judge(sample, c)), judged + 1
            row.append(score)
        scores.append(row)
    kept, kept_queries = [], set()
    for qi, si, s in select(scores, cfg.threshold, cfg.keep):
        item = as_sft_sample(samples[qi], completions[qi * cfg.num_samples + si], s, si)
        if item["answer"].strip():  # an empty answer teaches nothing
            kept.append(item)
            kept_queries.add(qi)
    flat = [s for row in scores for s in row]
    stats = {
        "queries": len(samples),
        "answers": len(flat),
        "judged_by_model": judged,
        "mean_score": sum(flat) / len(flat) if flat else 0.0,
        "kept": len(kept),
        "queries_with_a_kept_answer": len(kept_queries),
    }
    return kept, stats


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The statistics of one sampling pass split over processes: counts add, the mean score is the
    answers-weighted mean of the parts'."""
    answers = sum(p["answers"] for p in parts)
    out = {key: sum(p[key] for p in parts) for key in ("queries", "answers", "judged_by_model", "kept")}
    out["mean_score"] = sum(p["mean_score"] * p["answers"] for p in parts) / answers if answers else 0.0
    out["queries_with_a_kept_answer"] = sum(p["queries_with_a_kept_answer"] for p in parts)
    return {
        k: out[k]
        for k in ("queries", "answers", "judged_by_model", "mean_score", "kept", "queries_with_a_kept_answer")
    }


def write_kept(kept: list[dict[str, Any]], path: str | Path, overwrite: bool = False) -> Path:
    """The kept set as JSONL (+ images) so people can read what the model will be fine-tuned on."""
    from currvl.data.io import write_jsonl

    return write_jsonl(kept, Path(path), overwrite=overwrite)


def write_self_improvement(kept: list[dict[str, Any]], stats: dict[str, Any], folder: str | Path) -> Path:
    """`folder/kept.jsonl` (empty when nothing passed) then `folder/stats.json`, written last so that
    its presence says the sampling pass is complete. Returns the kept set's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kept_file = folder / "kept.jsonl"
    if kept:
        write_kept(kept, kept_file, overwrite=True)
    else:
        kept_file.write_text("")
    (folder / "stats.json").write_text(json.dumps(stats, indent=2))
    return kept_file


def self_improve_folder(
    model_path: str,
    data: Any,
    out_dir: str | Path,
    cfg: SelfImproveConfig,
    split: str = "train",
    image_root: str | None = None,
    limit: int | None = None,
    overwrite: bool = False,
) -> Path:
    """`currvl self-improve`: sample `data` with the model at `model_path`, keep what scores at the
    threshold, write kept.jsonl and stats.json into `out_dir` (never over an earlier set unless asked)."""
    from currvl.data.sources import load_source
    from currvl.models import load_model

    out = Path(out_dir)
    if (out / "kept.jsonl").exists() and not overwrite:
        raise FileExistsError(f"{out / 'kept.jsonl'} exists; pass --overwrite to replace it")
    samples = load_source(data, image_root=image_root, split=split)[:limit]
    model, processor = load_model(model_path)
    kept, stats = self_improvement_set(model, processor, samples, cfg)
    kept_file = write_self_improvement(kept, stats, out)
    print(json.dumps(stats, indent=2))
    print(f"kept set: {kept_file} (fine-tune on it with a method: sft recipe, e.g. lr 2e-7)")
    return kept_file
