"""Blind baselines: how far can a yes/no or choice split be answered without looking at the image?

A domain split where the question text, the answer priors or the option layout predict the answer
measures shortcuts, not vision. Each baseline here is fitted on the training items (same form) and
scored on the test items; none of them sees a pixel:

- ``answer_prior``:  the most frequent training answer for the same question text (for judge items
  the text holds the candidate, so this is also "P(yes | candidate)"), else for the category;
- ``option_position``: the letter most often correct in training (choice);
- ``option_text_prior``: the option whose text was most often the correct one in training (choice);
- ``nearest_centre_box``: the box option nearest the image centre (choice), or "yes" when the
  candidate box lies nearer the centre than a distance fitted on training (judge); box items only.

A sound split keeps every baseline within chance + 0.1 (1/options for choice, 0.5 for yes/no).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from currvl.data.formats import judge_candidate
from currvl.data.schema import OPTION_LETTERS
from currvl.rewards.scoring import parse_box

Sample = dict[str, Any]


def _majority(counter: Counter) -> str:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def _answer_prior(train: list[Sample]) -> Callable[[Sample], str]:
    by_question: dict[tuple, Counter] = defaultdict(Counter)
    by_category: dict[str, Counter] = defaultdict(Counter)
    for s in train:
        by_question[(s["category"], s["question"])][s["answer"]] += 1
        by_category[s["category"]][s["answer"]] += 1

    def predict(s: Sample) -> str:
        counts = by_question.get((s["category"], s["question"])) or by_category.get(s["category"])
        return _majority(counts) if counts else "yes"

    return predict


def _option_position(train: list[Sample]) -> Callable[[Sample], str]:
    counts = Counter(s["answer"] for s in train)

    def predict(s: Sample) -> str:
        return _majority(counts) if counts else "A"

    return predict


def _option_text_prior(train: list[Sample]) -> Callable[[Sample], str]:
    right: Counter = Counter()
    seen: Counter = Counter()
    for s in train:
        for i, option in enumerate(s["options"]):
            seen[(s["category"], option)] += 1
            right[(s["category"], option)] += int(OPTION_LETTERS[i] == s["answer"])

    def predict(s: Sample) -> str:
        rates = [right[(s["category"], o)] / max(1, seen[(s["category"], o)]) for o in s["options"]]
        return OPTION_LETTERS[max(range(len(rates)), key=lambda i: (rates[i], -i))]

    return predict


def _centre_distance(sample: Sample, box_text: str) -> float | None:
    box = parse_box(box_text)
    image = sample.get("image")
    if box is None or image is None or not hasattr(image, "size"):
        return None
    w, h = image.size
    return (((box[0] + box[2]) / 2 - w / 2) ** 2 + ((box[1] + box[3]) / 2 - h / 2) ** 2) ** 0.5


def _nearest_centre_box(train: list[Sample], form: str) -> Callable[[Sample], str] | None:
    if form == "choice":

        def pick(s: Sample) -> str:
            dists = [_centre_distance(s, o) for o in s["options"]]
            return OPTION_LETTERS[min(range(len(dists)), key=lambda i: dists[i] or 0.0)]

        return pick
    points = [(_centre_distance(s, judge_candidate(s) or ""), s["answer"]) for s in train]
    points = [(d, a) for d, a in points if d is not None]
    if not points:
        return None
    # the threshold "yes when nearer than t" that is best on training
    best_t, best_acc = 0.0, -1.0
    for t, _ in points:
        acc = sum((d <= t) == (a == "yes") for d, a in points) / len(points)
        if acc > best_acc:
            best_t, best_acc = t, acc

    def judge(s: Sample) -> str:
        d = _centre_distance(s, judge_candidate(s) or "")
        return "yes" if d is not None and d <= best_t else "no"

    return judge


def _asks_box(s: Sample) -> bool:
    """A box item in either form: its options (choice) or its candidate (judge) are boxes."""
    text = (s.get("options") or [""])[0] if s["task"] == "choice" else judge_candidate(s) or ""
    return parse_box(text) is not None


def chance(samples: list[Sample]) -> float:
    """Expected accuracy of a uniform guess: 0.5 for yes/no, mean 1/options for choice."""
    rates = [0.5 if s["task"] == "yes_no" else 1.0 / len(s["options"]) for s in samples]
    return sum(rates) / len(rates) if rates else 0.0


def blind_baselines(train: list[Sample], test: list[Sample]) -> dict[str, Any]:
    """Accuracy of every blind baseline on `test` (all yes_no or all choice), overall and per category."""
    forms = {s["task"] for s in (*train, *test)}
    if len(forms) != 1 or not forms <= {"yes_no", "choice"}:
        raise ValueError(f"blind baselines need one yes_no or choice form, got tasks {sorted(forms)}")
    form = "choice" if forms == {"choice"} else "judge"
    predictors: dict[str, Callable[[Sample], str]] = {"answer_prior": _answer_prior(train)}
    if form == "choice":
        predictors["option_position"] = _option_position(train)
        predictors["option_text_prior"] = _option_text_prior(train)
    box_train = [s for s in train if _asks_box(s)]
    box_predict = _nearest_centre_box(box_train, form) if box_train else None
    categories = sorted({s["category"] for s in test})
    out: dict[str, Any] = {
        "form": form,
        "n": len(test),
        "chance": chance(test),
        "baselines": {},
        "categories": {},
    }
    for name, predict in predictors.items():
        out["baselines"][name] = sum(predict(s) == s["answer"] for s in test) / len(test)
    for c in categories:
        items = [s for s in test if s["category"] == c]
        row = {"n": len(items), "chance": chance(items)}
        for name, predict in predictors.items():
            row[name] = sum(predict(s) == s["answer"] for s in items) / len(items)
        if box_predict is not None and all(_asks_box(s) for s in items):
            row["nearest_centre_box"] = sum(box_predict(s) == s["answer"] for s in items) / len(items)
        out["categories"][c] = row
    return out


def open_answer_prior(train: list[Sample], test: list[Sample]) -> dict[str, Any]:
    """The open form's blind floor: the train split's most common answer to each question (else
    category), given to every `test` item without its image and scored by the evaluation's own
    rules (exact match, IoU for boxes). A two-answer category ("left" or "right") floors at 0.5."""
    from currvl.evaluation.evaluate import score_completions

    predict = _answer_prior(train)
    scored = score_completions(test, [f"<answer>{predict(s)}</answer>" for s in test])
    return {"score": scored["score"], "categories": {c: t["score"] for c, t in scored["tasks"].items()}}


def worst_excess(result: dict[str, Any]) -> float:
    """The largest margin of any baseline over chance, overall or in any category."""
    margins = [v - result["chance"] for v in result["baselines"].values()]
    for row in result["categories"].values():
        margins += [v - row["chance"] for k, v in row.items() if k not in ("n", "chance")]
    return max(margins)
