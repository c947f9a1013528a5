"""Curriculum answer formats (Curr-ReFT): turn an open-ended sample into a judge or a choice item.

The Curr-ReFT release never published how its yes/no and multiple-choice questions were built, so
this is our rule, deterministic under a seed and applied the same way to users' own JSONL:

- judge: "<question> Is the answer <candidate>?" with the true answer or a sensible wrong one
  (balanced: item i of a dataset is true when its seeded coin says so, with exact balance per pair);
- choice: 4 options (fewer when a category has fewer answers: left/right gives 2), one correct
  (several for label sets), distractors drawn per task: other answers
  of the same category, numbers near the true one, other items' true boxes with IoU < 0.5 to this
  one (so a distractor box is drawn from the same distribution as a true box: "pick the box nearest
  the centre" cannot beat chance), other labels;
- choice_text (a variant, not the paper's: its choice reward is a letter match): the same options,
  but the answer is the right option's text, written out ("red circle"), scored as the open answer is;
  a choice stage that rehearses the open answer's form (object_names, README);
- open: unchanged.
Items that are already yes_no or choice pass through untouched in every format.

What the judge and choice forms ask about is a knob (a curriculum stage's ``about``): the whole
answer (the default), or its concept (`concept_items`): where the answer is a sentence around a
domain word ("The picture has 3 shapes."), the paper's yes/no and choice questions are about the
class, the number or the box itself ("Is the answer 3?"), not about a sentence.
"""

from __future__ import annotations

import random
import re
import zlib
from collections import defaultdict
from typing import Any

from currvl.data.schema import OPTION_LETTERS, format_box, format_options
from currvl.rewards.concepts import find_word
from currvl.rewards.scoring import box_iou, parse_box, parse_labels, parse_number

FORMATS = ("judge", "choice", "choice_text", "open")
CHOICE_TEXT_INSTRUCTION = "Answer with the text of the right option."
PASS_THROUGH_TASKS = ("yes_no", "choice")
_JUDGE_CANDIDATE = re.compile(r"Is the answer (.+)\?$")


def _rng(seed: int, sample: dict[str, Any], salt: str) -> random.Random:
    key = f"{seed}:{salt}:{sample.get('id')}:{sample['question']}:{sample['answer']}"
    return random.Random(zlib.crc32(key.encode()))


def concept_items(
    samples: list[dict[str, Any]], vocabulary: list[str] | tuple[str, ...]
) -> list[dict[str, Any]]:
    """Each text item asked about its concept: the answer becomes the `vocabulary` words it names, in
    the order it names them ("The picture has 3 shapes." -> "3"); other tasks pass through. An item
    whose answer names no word of the vocabulary is an error naming it (give the concepts, or the
    answers, that a concept judge needs)."""
    if not vocabulary:
        raise ValueError("asking about the concept needs the domain's concept words (data.concepts)")
    out = []
    for s in samples:
        if s["task"] != "text":
            out.append(dict(s))
            continue
        answer = str(s["answer"]).lower()
        found = {w: at for w in vocabulary if (at := find_word(answer, w.lower())) is not None}
        named = sorted(found, key=found.get)
        if not named:
            raise ValueError(
                f"{s.get('id')!r}: answer {s['answer']!r} names none of the concept words "
                f"({', '.join(list(vocabulary)[:8])}{', ...' if len(vocabulary) > 8 else ''})"
            )
        out.append({**s, "answer": " ".join(named)})
    return out


def answer_pools(samples: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Distinct answers per (category, task): where text distractors come from."""
    pools: dict[tuple[str, str], list[str]] = defaultdict(list)
    for s in samples:
        key = (s.get("category") or s["task"], s["task"])
        if s["answer"] not in pools[key]:
            pools[key].append(s["answer"])
    return pools


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _number_distractors(answer: str, rng: random.Random, k: int) -> list[str]:
    value = parse_number(answer)
    if value is None:
        raise ValueError(f"math answer {answer!r} is not a number; give such items a text task or options")
    step = 1 if float(value).is_integer() else max(abs(value) * 0.1, 0.1)
    candidates = [value + d * step for d in range(-6, 7) if d != 0]
    candidates = [c for c in candidates if c >= 0] if value >= 0 else candidates
    rng.shuffle(candidates)
    candidates.sort(key=lambda c: abs(c - value))  # the nearest, in a seeded order among equals
    near = candidates[: 2 * k]
    rng.shuffle(near)
    return [_format_number(c) for c in near[:k]]


def _image_size(sample: dict[str, Any], box: list[float]) -> tuple[float, float]:
    image = sample.get("image")
    size = getattr(image, "size", None)
    if size is None and isinstance(image, str):
        from PIL import Image

        with Image.open(image) as im:
            size = im.size
    if size is None:  # no image to bound the distractors: twice the box's far corner
        size = (box[2] * 2, box[3] * 2)
    return float(size[0]), float(size[1])


def box_distractors(sample: dict[str, Any], rng: random.Random, k: int, max_iou: float = 0.5) -> list[str]:
    """Boxes of the true box's size moved inside the image so that IoU with the truth stays < max_iou."""
    box = parse_box(sample["answer"])
    if box is None:
        raise ValueError(f"box answer {sample['answer']!r} is not [x1, y1, x2, y2]")
    width, height = _image_size(sample, box)
    w, h = box[2] - box[0], box[3] - box[1]
    out: list[list[float]] = []
    for _ in range(500):
        if len(out) == k:
            break
        scale = rng.uniform(0.7, 1.3)
        bw, bh = min(w * scale, width), min(h * scale, height)
        x1, y1 = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
        cand = [round(x1), round(y1), round(x1 + bw), round(y1 + bh)]
        if cand[2] <= cand[0] or cand[3] <= cand[1]:
            continue
        if box_iou(cand, box) < max_iou and all(box_iou(cand, o) < 0.9 for o in out):
            out.append(cand)
    if len(out) < k:
        raise ValueError(f"could not place {k} box distractors with IoU < {max_iou} for {sample.get('id')!r}")
    return [format_box(b) for b in out]


def pooled_box_distractors(
    sample: dict[str, Any], pool: list[str], rng: random.Random, k: int, max_iou: float = 0.5
) -> list[str] | None:
    """k other items' true boxes that fit this image and overlap the true box by IoU < max_iou (and
    each other by < 0.9); None when the pool has too few."""
    box = parse_box(sample["answer"])
    if box is None:
        raise ValueError(f"box answer {sample['answer']!r} is not [x1, y1, x2, y2]")
    width, height = _image_size(sample, box)
    candidates = [b for b in (parse_box(a) for a in pool) if b is not None]
    rng.shuffle(candidates)
    out: list[list[float]] = []
    for cand in candidates:
        if len(out) == k:
            break
        if cand[2] > width or cand[3] > height:
            continue
        if box_iou(cand, box) < max_iou and all(box_iou(cand, o) < 0.9 for o in out):
            out.append(cand)
    return [format_box(b) for b in out] if len(out) == k else None


def _distractors(sample, pools, rng: random.Random, k: int) -> list[str]:
    task = sample["task"]
    if task == "math":
        return _number_distractors(sample["answer"], rng, k)
    if task == "box":
        pool = pools.get((sample.get("category") or task, task), [])
        pooled = pooled_box_distractors(sample, [a for a in pool if a != sample["answer"]], rng, k)
        return pooled if pooled is not None else box_distractors(sample, rng, k)
    key = (sample.get("category") or task, task)
    others = [a for a in pools.get(key, []) if a.strip().lower() != sample["answer"].strip().lower()]
    rng.shuffle(others)
    if len(others) < k:
        raise ValueError(
            f"{sample.get('id')!r}: category {key[0]!r} has only {len(others)} other answers; "
            f"{k} distractors are needed (add data or give the item options)"
        )
    return others[:k]


def _distractor_count(sample: dict[str, Any], pools, n_options: int) -> int:
    """n_options - 1, or fewer for a text category with fewer other answers (left/right: 2 options)."""
    if sample["task"] in ("math", "box"):
        return n_options - 1
    key = (sample.get("category") or sample["task"], sample["task"])
    others = {a.strip().lower() for a in pools.get(key, [])} - {sample["answer"].strip().lower()}
    return max(1, min(n_options - 1, len(others)))


def to_judge(sample: dict[str, Any], pools, seed: int = 0, truth: bool | None = None) -> dict[str, Any]:
    """A yes/no item: is `candidate` the answer? `truth` None draws a seeded coin."""
    if sample["task"] in PASS_THROUGH_TASKS:
        return dict(sample)
    rng = _rng(seed, sample, "judge")
    if truth is None:
        truth = rng.random() < 0.5
    # label sets: the false candidate is another item's label set of the same category
    candidate = sample["answer"] if truth else _distractors(sample, pools, rng, 1)[0]
    out = dict(sample)
    out.update(
        question=f"{sample['question']} Is the answer {candidate}?",
        answer="yes" if truth else "no",
        task="yes_no",
        options=None,
        rationale=None,
    )
    return out


def judge_candidate(sample: dict[str, Any]) -> str | None:
    """The candidate a judge item asks about ("... Is the answer <candidate>?"); None for other items."""
    m = _JUDGE_CANDIDATE.search(sample["question"])
    return m.group(1) if m else None


def to_choice(sample: dict[str, Any], pools, seed: int = 0, n_options: int = 4) -> dict[str, Any]:
    """A lettered multiple-choice item with one correct option (all true labels for label sets)."""
    if sample["task"] in PASS_THROUGH_TASKS:
        return dict(sample)
    rng = _rng(seed, sample, "choice")
    if sample["task"] == "labels":
        correct = sorted(parse_labels(sample["answer"]))[: n_options - 1]
        key = (sample.get("category") or "labels", "labels")
        pool = sorted({lab for a in pools.get(key, []) for lab in parse_labels(a)} - set(correct))
        rng.shuffle(pool)
        options = correct + pool[: n_options - len(correct)]
    else:
        correct = [sample["answer"]]
        options = correct + _distractors(sample, pools, rng, _distractor_count(sample, pools, n_options))
    rng.shuffle(options)
    letters = [OPTION_LETTERS[i] for i, o in enumerate(options) if o in correct]
    out = dict(sample)
    out.update(
        question=sample["question"], answer=", ".join(letters), task="choice", options=options, rationale=None
    )
    return out


def to_choice_text(sample: dict[str, Any], pools, seed: int = 0, n_options: int = 4) -> dict[str, Any]:
    """The choice item's options in the question, the answer the right option's text (single-answer
    text and math items: a box or a label set has no one text to write)."""
    if sample["task"] in PASS_THROUGH_TASKS:
        return dict(sample)
    if sample["task"] not in ("text", "math"):
        raise ValueError(
            f"{sample.get('id')!r}: format choice_text needs a single-answer text or math item, got task "
            f"{sample['task']!r} (use choice)"
        )
    options = to_choice(sample, pools, seed, n_options)["options"]
    out = dict(sample)
    out.update(
        question=f"{sample['question']}\n{format_options(options)}\n{CHOICE_TEXT_INSTRUCTION}",
        options=None,
        rationale=None,
    )
    return out


_OPTION_FORMATS = {"choice": to_choice, "choice_text": to_choice_text}
"""The formats built from a lettered item's options (`convert` and `mix_formats` both dispatch here)."""


def convert(samples: list[dict[str, Any]], fmt: str, seed: int = 0) -> list[dict[str, Any]]:
    """Every sample in format `fmt`; judge items alternate true/false in seeded pairs (exact balance)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if fmt == "open":
        return [dict(s) for s in samples]
    pools = answer_pools(samples)
    if fmt in _OPTION_FORMATS:
        return [_OPTION_FORMATS[fmt](s, pools, seed) for s in samples]
    coin = random.Random(seed)
    out = []
    for i, s in enumerate(samples):
        if i % 2 == 0:
            first_true = coin.random() < 0.5
        out.append(to_judge(s, pools, seed, truth=first_true if i % 2 == 0 else not first_true))
    return out


def mix_formats(samples: list[dict[str, Any]], formats: list[str], seed: int = 0) -> list[dict[str, Any]]:
    """Sample i in format formats[i % len(formats)]: e.g. ["open", "judge", "choice"] teaches all three.

    Distractor pools come from the whole list, so every format sees every category's answers.
    """
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    pools = answer_pools(samples)
    coin = random.Random(seed)
    out = []
    for i, s in enumerate(samples):
        fmt = formats[i % len(formats)]
        if fmt in _OPTION_FORMATS:
            out.append(_OPTION_FORMATS[fmt](s, pools, seed))
        elif fmt == "judge":
            out.append(to_judge(s, pools, seed, truth=coin.random() < 0.5))
        else:
            out.append(dict(s))
    return out
