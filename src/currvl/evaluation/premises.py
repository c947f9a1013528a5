"""Each method's premise, measured on a model and a domain before any method runs, and what follows.

The measurements (`currvl diagnose` prints them; the bench's premise tables come from them):
- free reachability: plain GRPO's rollouts (`reachability`, mode "free");
- prefix reachability: a share of the reference forced, and the reference forced up to just before
  its first concept (RCPA's premise);
- sight: a linear probe on the frozen merged vision tokens (`sight`), with the general suite's
  shapes as the control;
- form density: the same items asked yes/no and multiple choice, against chance (Curr-ReFT's premise:
  a judge form answered from real skill), about the whole answer and, where the answer is a sentence
  around a concept word, about the concept ("Is the answer 3?": a curriculum stage's `about`);
- chance and a blind floor of the open form, where the answers come from a closed set;
- the base's greedy score.

`recommend` turns the figures into a method by the documented rules below (tested on crafted
figures): GRPO when every category's groups carry signal; else GRPO with dynamic sampling when a few
of a sparse category's groups have spread (DS keeps them), saying where Curr-ReFT's premise holds too;
else Curr-ReFT when a sparse category's yes/no form is answered well above chance and free samples
sometimes write its open answer; else RCPA when a prefix up to the concept makes reachable what free samples never reach; else a
supervised start (SFT -> GRPO, or SFT with replay). A category without signal may be all right in some groups and
all wrong in others (confident answers): GRPO has nothing to learn from either.

The reachability condition on Curr-ReFT was added from the bench (session 18): on `object_names` and
`count_sentences` the yes/no form is judged from skill (0.78, 0.69; chance 0.5) but no free sample
writes the open answer, and Curr-ReFT ended at 0.000 on both, every seed: its judge and choice stages
teach a verdict and a letter, never the open form, so the open stage starts where GRPO does.
Session 19 reads that condition off groups (`OPEN_REACH`, > 0.02 of groups with a paid sample)
instead of samples (> 0.02 of samples paid), fixed before the next world was measured: at k = 8 the
samples bar and the sparse bar (< 0.15 of groups with spread) together admitted no category whose
items are paid at one rate. Both worlds above stay out (0.000 of groups).
Session 20 reads the yes/no form both ways: `picture_counts` ("The picture has 3 shapes.") is judged
at 0.600 asked about the sentence and 0.805 asked about the number, and the recommendation names the
form (`about`) the curriculum's judge and choice stages should use. Its premise held there and
Curr-ReFT still trailed GRPO with dynamic sampling on every seed (0.545 against 0.790, as on `scan_qa`:
0.436 against 0.513), since what is sparse is the open answer's form, which the judge and choice
stages never write: so where the open answer is within reach the rule now recommends GRPO+DS, and
names the categories where Curr-ReFT's premise holds (`curr_reft_premise`) for a user who wants it.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import torch

from currvl.data.formats import concept_items, convert
from currvl.evaluation.blind import chance as closed_form_chance
from currvl.evaluation.blind import open_answer_prior
from currvl.evaluation.evaluate import evaluate
from currvl.evaluation.reachability import reachability
from currvl.evaluation.sight import sight_probe

SIGNAL_GROUPS = 0.15
"""A category carries GRPO signal when at least this share of its groups has spread (the Curr-ReFT
domain's sparse category is defined below it)."""
JUDGE_MARGIN = 0.15
"""Curr-ReFT's judge form counts as real skill at this much above chance (a coin's spread is not)."""
PREFIX_REACH = 0.3
"""RCPA's premise: at least this share of samples paid with the reference forced up to the concept ..."""
FREE_REACH = 0.02
"""... where at most this share of free samples is paid (the prefix is what makes it reachable)."""
OPEN_REACH = 0.02
"""Curr-ReFT's open stage needs free samples that sometimes write the open answer: more than this
share of groups holds a paid sample. (Read off groups, not samples: with k = 8, a category where every
item is paid at the same rate p has < SIGNAL_GROUPS of groups with spread only for p < 0.02, so a
samples-paid bar at 0.02 would admit none of them.)"""
SOME_SIGNAL = 0.02
"""GRPO with dynamic sampling needs a few groups with spread to keep: more than this share of groups."""
MAX_OPEN_CLASSES = 12
"""An open category has a chance level when its answers come from at most this many values."""


def closed_answer_sets(source: Any) -> dict[str, tuple[str, ...] | None] | None:
    """A synthetic world's closed answer set per category (None where answers are open), else None."""
    from currvl.data.sources import SYNTHETIC_PREFIX, parse_synthetic
    from currvl.data.synthetic import get_world

    if isinstance(source, str) and source.startswith(SYNTHETIC_PREFIX):
        return dict(get_world(parse_synthetic(source)[0]).vocabulary)
    return None


def open_chance(
    samples: list[dict[str, Any]], known: dict[str, tuple[str, ...] | None] | None = None
) -> dict[str, float | None]:
    """Per category: 1 / (answers) for a closed answer set, else None (free text, boxes: no chance
    level can be stated). The set is `known[category]` where given (a synthetic world's vocabulary),
    else read off the samples: their distinct answers, when they repeat from at most
    `MAX_OPEN_CLASSES` values."""
    answers: dict[str, Counter] = defaultdict(Counter)
    for s in samples:
        answers[s.get("category") or s["task"]][str(s["answer"]).strip().lower()] += 1
    out: dict[str, float | None] = {}
    for category, counts in sorted(answers.items()):
        if known is not None and category in known:
            out[category] = 1.0 / len(known[category]) if known[category] else None
            continue
        closed = len(counts) <= MAX_OPEN_CLASSES and sum(counts.values()) >= 2 * len(counts)
        out[category] = 1.0 / len(counts) if closed and counts else None
    return out


def blind_floor(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The open form's blind floor on these items: the most common answer to each question (else
    category) among the even items, given without the image to the odd ones."""
    fit, held = samples[0::2], samples[1::2]
    if not fit or not held:
        return {"score": None, "categories": {}}
    return open_answer_prior(fit, held)


def form_density(
    model,
    processor,
    samples: list[dict[str, Any]],
    *,
    seed: int = 0,
    batch_size: int = 32,
    known: dict[str, tuple[str, ...] | None] | None = None,
    vocabulary: Iterable[str] = (),
) -> dict[str, Any]:
    """Greedy open, yes/no and choice scores of the same items, per category, with each form's chance;
    and the yes/no and choice forms asked about the answer's concept (`judge_concept`,
    `choice_concept`: "Is the answer 3?" for "The picture has 3 shapes.") where that differs from the
    answer and every text item names one of `vocabulary`."""
    out: dict[str, Any] = {}
    about = _concept_asked(samples, tuple(vocabulary))
    forms = [("open", samples), ("judge", samples), ("choice", samples)]
    forms += [(f"{form}_concept", about) for form in ("judge", "choice")] if about else []
    for name, base in forms:
        form = name.removesuffix("_concept")
        items = convert(base, form, seed)
        result = evaluate(model, processor, items, batch_size=batch_size, show_progress=False)
        rows = {c: t["score"] for c, t in result["tasks"].items()}
        chances: dict[str, float | None]
        if form == "open":
            chances = open_chance(samples, known)
        else:
            by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for s in items:
                by_cat[s.get("category") or s["task"]].append(s)
            chances = {c: closed_form_chance(v) for c, v in by_cat.items()}
        out[name] = {"score": result["score"], "categories": rows, "chance": chances}
    return out


def _concept_asked(samples: list[dict[str, Any]], vocabulary: tuple[str, ...]) -> list[dict[str, Any]] | None:
    """The items asked about their concepts, or None where that is the answer itself or not defined."""
    if not vocabulary:
        return None
    try:
        about = concept_items(samples, vocabulary)
    except ValueError:  # some answer names no concept word: no concept form to measure
        return None
    return about if any(a["answer"] != s["answer"] for a, s in zip(about, samples, strict=True)) else None


def premise_checks(
    model,
    processor,
    samples: list[dict[str, Any]],
    *,
    k: int = 8,
    temperature: float = 1.0,
    share: float = 0.6,
    vocabulary: Iterable[str] = (),
    control: list[dict[str, Any]] | None = None,
    known: dict[str, tuple[str, ...] | None] | None = None,
    seed: int = 0,
    batch_size: int = 16,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Every premise figure of `samples` (a sample of the domain's training items)."""
    vocabulary = tuple(vocabulary)
    options = {"k": k, "temperature": temperature, "batch_size": batch_size, "show_progress": show_progress}
    figures: dict[str, Any] = {"n": len(samples), "k": k, "temperature": temperature, "share": share}
    torch.manual_seed(seed)  # T=1 samples: the same figures on a rerun (on the same kind of machine)
    figures["free"] = reachability(model, processor, samples, mode="free", **options)
    torch.manual_seed(seed)
    figures["prefix_share"] = reachability(model, processor, samples, mode="share", share=share, **options)
    torch.manual_seed(seed)
    figures["prefix_concept"] = reachability(
        model, processor, samples, mode="before_concept", vocabulary=vocabulary, **options
    )
    figures["forms"] = form_density(model, processor, samples, seed=seed, known=known, vocabulary=vocabulary)
    figures["blind_floor"] = blind_floor(samples)
    figures["sight"] = sight_probe(model, processor, samples, vocabulary=vocabulary, seed=seed)
    if control:
        figures["sight_control"] = sight_probe(model, processor, control, seed=seed)
    figures["recommendation"] = recommend(figures)
    return figures


JUDGE_FORMS = {"judge": "asked about the answer", "judge_concept": "asked about the concept"}
"""The yes/no forms `recommend` reads, in the order it prefers them (the curriculum stage's `about`)."""


def _judged(figures: dict[str, Any], form: str, category: str) -> bool:
    """Is `category` judged in `form` >= JUDGE_MARGIN above its chance?"""
    f = figures.get("forms", {}).get(form, {})
    score, chance = f.get("categories", {}).get(category), f.get("chance", {}).get(category)
    return score is not None and chance is not None and score >= chance + JUDGE_MARGIN


def _category_figure(figures: dict[str, Any], section: str, category: str, key: str) -> float | None:
    row = figures.get(section, {}).get("categories", {}).get(category)
    return None if row is None else row.get(key)


def recommend(figures: dict[str, Any]) -> dict[str, Any]:
    """The method the premise figures point to, with its reason (rules in the module docstring).

    Reads, per category, free `groups_with_spread`, the yes/no score against its chance, and
    `samples_paid` with the reference forced up to the concept."""
    free = figures["free"]["categories"]
    categories = [c for c in free if c != "all"]
    sparse = [c for c in categories if free[c]["groups_with_spread"] < SIGNAL_GROUPS]
    if not sparse:
        return {
            "method": "grpo",
            "reason": f"every category's groups carry signal (>= {SIGNAL_GROUPS:.2f} of groups spread "
            "over free samples): plain GRPO has something to reinforce",
            "sparse": [],
        }
    reachable = [c for c in sparse if free[c]["groups_with_a_paid_sample"] > OPEN_REACH]
    judged: dict[str, str | None] = {  # category -> the judge form answered from skill, if any
        c: next((form for form in JUDGE_FORMS if _judged(figures, form, c)), None) for c in reachable
    }
    premise = [c for c, form in judged.items() if form]  # Curr-ReFT's premise holds there
    about = "concept" if premise and all(judged[c] == "judge_concept" for c in premise) else "answer"
    curr_reft = (
        f"Curr-ReFT's premise holds in {', '.join(f'{c} ({JUDGE_FORMS[judged[c]]})' for c in premise)}"
    )
    some_signal = [c for c in sparse if free[c]["groups_with_spread"] > SOME_SIGNAL]
    if some_signal:
        said = (
            f"; {curr_reft} (stages' about: {about}), but on the bench it trailed GRPO+DS" if premise else ""
        )
        return {
            "method": "grpo_dynamic_sampling",
            "reason": f"sparse open categories ({', '.join(sparse)}) where a few groups carry signal (> "
            f"{SOME_SIGNAL:.2f} of groups spread: {', '.join(some_signal)}): dynamic sampling keeps "
            f"them{said}",
            "sparse": sparse,
            "curr_reft_premise": premise,
            "about": about,
        }
    if premise:
        return {
            "method": "curr_reft",
            "reason": f"sparse open categories ({', '.join(sparse)}) whose yes/no form is answered >= "
            f"{JUDGE_MARGIN:.2f} above chance, and whose open answer free samples sometimes write (> "
            f"{OPEN_REACH:.2f} of groups hold a paid sample) though no group has spread for dynamic "
            f"sampling to keep: {curr_reft}; the judge stage gives their groups signal from real skill "
            f"(stages' about: {about})",
            "sparse": sparse,
            "curr_reft_premise": premise,
            "about": about,
        }
    reached = {
        c: _category_figure(figures, "prefix_concept", c, "samples_paid")
        for c in sparse
        if free[c]["samples_paid"] <= FREE_REACH
    }
    if any(v is not None and v >= PREFIX_REACH for v in reached.values()):
        named = ", ".join(c for c, v in reached.items() if v is not None and v >= PREFIX_REACH)
        return {
            "method": "rcpa",
            "reason": f"no GRPO signal in {', '.join(sparse)}; in {named} free samples never reach the "
            f"concept (<= {FREE_REACH:.2f}) but with the reference forced up to it >= {PREFIX_REACH:.2f} "
            "of samples name it: pre-alignment can start what GRPO cannot",
            "sparse": sparse,
        }
    return {
        "method": "sft_then_grpo",
        "reason": f"no GRPO signal in {', '.join(sparse)}, no yes/no judgement above chance + "
        f"{JUDGE_MARGIN:.2f} there, and no prefix that makes an unreachable concept reachable: start "
        "supervised (SFT -> GRPO, or SFT with replay to keep the general score)",
        "sparse": sparse,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def premise_table(figures: dict[str, Any]) -> str:
    """A markdown table: one row per category, the premise figures side by side."""
    free = figures["free"]["categories"]
    forms = figures.get("forms", {})
    header = (
        "| category | items | chance (open) | blind floor | greedy (open) | free: paid | free: groups spread "
        f"| {figures['share']:.0%} forced: paid | to concept: paid | to concept: groups spread | yes/no "
        "(chance) | choice (chance) | yes/no, concept (chance) | choice, concept (chance) | sight probe "
        "(chance) |"
    )
    lines = [header, "|" + "---|" * 15]
    for c in free:
        row = [
            c,
            str(free[c]["items"]),
            _fmt(forms.get("open", {}).get("chance", {}).get(c)) if c != "all" else "",
            _fmt(figures.get("blind_floor", {}).get("categories", {}).get(c))
            if c != "all"
            else _fmt(figures.get("blind_floor", {}).get("score")),
            _fmt(forms.get("open", {}).get("categories", {}).get(c))
            if c != "all"
            else _fmt(forms.get("open", {}).get("score")),
            _fmt(free[c]["samples_paid"]),
            _fmt(free[c]["groups_with_spread"]),
            _fmt(_category_figure(figures, "prefix_share", c, "samples_paid")),
            _fmt(_category_figure(figures, "prefix_concept", c, "samples_paid")),
            _fmt(_category_figure(figures, "prefix_concept", c, "groups_with_spread")),
        ]
        for form in ("judge", "choice", "judge_concept", "choice_concept"):
            if form not in forms:
                row.append("-")
                continue
            f = forms[form]
            score = f.get("score") if c == "all" else f.get("categories", {}).get(c)
            chance = None if c == "all" else f.get("chance", {}).get(c)
            row.append(f"{_fmt(score)} ({_fmt(chance)})")
        probe = figures.get("sight", {}).get("categories", {}).get(c, {})
        row.append(f"{_fmt(probe.get('accuracy'))} ({_fmt(probe.get('chance'))})" if probe else "-")
        lines.append("| " + " | ".join(row) + " |")
    control = figures.get("sight_control", {}).get("categories", {})
    if control:
        said = ", ".join(
            f"{c} {_fmt(r.get('accuracy'))} (chance {_fmt(r.get('chance'))})" for c, r in control.items()
        )
        lines += ["", f"Sight control (the general suite): {said}."]
    rec = figures.get("recommendation")
    if rec:
        lines += ["", f"**Recommendation: {rec['method']}**: {rec['reason']}."]
    return "\n".join(lines)


def shuffled(samples: list[dict[str, Any]], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` of the samples in a seeded order (a diagnosis sample of a training set)."""
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    return [samples[i] for i in order[:n]]
