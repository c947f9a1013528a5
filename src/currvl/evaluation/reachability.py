"""Can the policy sample what the reward pays for: freely, or with part of the reference forced?

GRPO can only reinforce an answer some rollout already gives. For each category this counts, over a
model's own samples at the rollouts' temperature, the share of samples the task's scoring rule pays
(> 0), the share of groups of k with a paid sample and the share of groups whose scores spread (the
groups that carry any GRPO signal). Three ways to start a sample:

- free: what plain GRPO sees;
- a share of the reference forced (`prefix_share`): RCPA's prefix at rho, ceil(rho * L) tokens;
- the reference forced up to just before its first concept (`before_concept`): the domain word (a
  finding, a class word, a number) is left for the policy to write. This is RCPA's premise: the
  words and sight are there, only the connection is missing.

The reference is the SFT target (`<think>rationale</think><answer>answer</answer>`), the completion
RCPA forces. A forced prefix is the reference's own text up to a token boundary of its tokenisation.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from currvl.data.prompts import target_text
from currvl.data.sources import source_concepts
from currvl.models.generation import generate
from currvl.rewards.concepts import find_word, target_concepts

PREFIX_MODES = ("free", "share", "before_concept")


def concept_terms(sample: dict[str, Any], vocabulary: Iterable[str] = ()) -> list[str]:
    """The domain words a sample's answer names: a short answer itself (or each label), the findings a
    report asserts, a math answer's number, and every `vocabulary` word the answer holds."""
    answer = str(sample.get("answer") or "").strip()
    terms = set(target_concepts(answer, sample.get("task")) or ())
    if sample.get("task") == "math" and answer:
        terms.add(answer.lower())
    lowered = answer.lower()
    terms.update(w.lower() for w in vocabulary if find_word(lowered, w.lower()) is not None)
    return sorted(terms)


def first_concept_char(reference: str, terms: Sequence[str]) -> int | None:
    """Character offset of the earliest whole-word occurrence of any term in `reference` (case-insensitive)."""
    lowered = reference.lower()
    found = [p for p in (find_word(lowered, t.lower()) for t in terms) if p is not None]
    return min(found) if found else None


def token_ends(tokenizer, text: str) -> list[int]:
    """End character offset of each token of `text` (the tokenizer's own offsets)."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return [end for _, end in enc["offset_mapping"]]


def prefix_before(tokenizer, reference: str, char: int) -> str:
    """The reference's text up to the last token that ends at or before `char`: the cut lands just
    before the token that holds the concept's first character (a leading space stays with it)."""
    ends = [e for e in token_ends(tokenizer, reference) if e <= char]
    return reference[: ends[-1]] if ends else ""


def prefix_of_share(tokenizer, reference: str, share: float) -> str:
    """The first ceil(share * L) tokens of the reference's L, as text (RCPA's prefix at rho = share)."""
    ends = token_ends(tokenizer, reference)
    k = min(max(math.ceil(share * len(ends) - 1e-9), 0), len(ends))
    return reference[: ends[k - 1]] if k else ""


def forced_prefixes(
    tokenizer,
    samples: list[dict[str, Any]],
    mode: str = "free",
    share: float = 0.0,
    vocabulary: Iterable[str] = (),
) -> list[str | None]:
    """The prefix each sample starts from under `mode`; None where `before_concept` finds no concept
    in the reference (such items are left out of that measurement)."""
    if mode not in PREFIX_MODES:
        raise ValueError(f"prefix mode must be one of {PREFIX_MODES}, got {mode!r}")
    vocabulary = tuple(vocabulary)
    out: list[str | None] = []
    for s in samples:
        reference = target_text(s)
        if mode == "free":
            out.append("")
        elif mode == "share":
            out.append(prefix_of_share(tokenizer, reference, share))
        else:
            char = first_concept_char(reference, concept_terms(s, vocabulary))
            out.append(None if char is None else prefix_before(tokenizer, reference, char))
    return out


def reachability_table(
    samples: list[dict[str, Any]], scores: list[float], k: int
) -> dict[str, dict[str, float]]:
    """Per category and "all": items, share of samples paid (> 0), mean score, share of groups of k
    with a paid sample and share of groups whose scores spread. `scores` holds k consecutive scores
    per sample."""
    if len(scores) != len(samples) * k:
        raise ValueError(f"{len(scores)} scores for {len(samples)} samples x {k}")
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for i, s in enumerate(samples):
        group = scores[i * k : (i + 1) * k]
        for key in (s.get("category") or s["task"], "all"):
            row = rows[key]
            row["items"] += 1
            row["paid"] += sum(x > 0 for x in group)
            row["score"] += sum(group)
            row["any_paid"] += any(x > 0 for x in group)
            row["spread"] += max(group) != min(group)
    return {
        key: {
            "items": int(r["items"]),
            "samples_paid": r["paid"] / (r["items"] * k),
            "mean_score": r["score"] / (r["items"] * k),
            "groups_with_a_paid_sample": r["any_paid"] / r["items"],
            "groups_with_spread": r["spread"] / r["items"],
        }
        for key, r in sorted(rows.items(), key=lambda kv: (kv[0] == "all", kv[0]))
    }


def reachability(
    model,
    processor,
    samples: list[dict[str, Any]],
    *,
    k: int = 8,
    temperature: float = 1.0,
    mode: str = "free",
    share: float = 0.0,
    vocabulary: Iterable[str] = (),
    batch_size: int = 16,
    max_new_tokens: int = 64,
    show_progress: bool = True,
) -> dict[str, Any]:
    """`reachability_table` of k samples per item started under `mode`, with a few completions to quote."""
    from currvl.evaluation.evaluate import score_completions

    tokenizer = getattr(processor, "tokenizer", processor)
    prefixes = forced_prefixes(tokenizer, samples, mode, share, vocabulary)
    kept = [(s, p) for s, p in zip(samples, prefixes, strict=True) if p is not None]
    if not kept:
        return {
            "mode": mode,
            "share": share,
            "k": k,
            "categories": {},
            "left_out": len(samples),
            "examples": [],
        }
    items, forced = [s for s, _ in kept], [p for _, p in kept]
    completions = generate(
        model,
        processor,
        items,
        num_samples=k,
        temperature=temperature,
        prefixes=forced,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        show_progress=show_progress,
        description=f"sampling ({mode})",
    )
    repeated = [s for s in items for _ in range(k)]
    scores = [r["score"] for r in score_completions(repeated, completions)["records"]]
    examples = [
        {"category": items[i].get("category"), "prefix": forced[i], "completion": completions[i * k]}
        for i in range(min(len(items), 4))
    ]
    return {
        "mode": mode,
        "share": share,
        "k": k,
        "temperature": temperature,
        "categories": reachability_table(items, scores, k),
        "left_out": len(samples) - len(items),
        "mean_forced_chars": sum(map(len, forced)) / len(forced),
        "examples": examples,
    }


def concept_vocabulary(data: Any, extra: list[str] | None = None) -> list[str]:
    """Words that count as the domain's concepts for the prefix cut: a synthetic world's own (its
    `concept_words`, else its closed answer sets), plus any the user names."""
    return list(dict.fromkeys([*(extra or []), *source_concepts(data)]))
