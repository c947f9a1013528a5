"""Pure answer-scoring rules, one per task type, shared by the RL rewards and the evaluator.

Every ``score_*`` function takes the already-extracted predicted answer (None when the completion
had no answer tag) and the reference answer, returns a float in [0, 1], gives 0.0 to a missing or
empty prediction, and never raises on malformed model output: a reward that crashes stops training.
These implement the intent of the Curr-ReFT release's reward rules, not its bugs; each rule says
which bug it leaves out.
"""

from __future__ import annotations

import ast
import logging
import math
import re
import unicodedata
from typing import Any

_log = logging.getLogger(__name__)

DEFAULT_CHOICE_PARTIAL_CREDIT = 0.2
"""Credit for a strict subset of a multi-select item's letters (the Curr-ReFT paper's value)."""
DEFAULT_BOX_IOU_THRESHOLD = 0.5
"""A predicted box is right when its IoU with the reference exceeds this."""

TASK_TYPES: tuple[str, ...] = ("text", "math", "box", "labels", "yes_no", "choice")
"""How an answer is scored: one rule per type below (the sample schema in `currvl.data.schema` uses them)."""
OPTION_LETTERS = "ABCDEFGHIJ"
"""Letters of multiple-choice options, in order (letter A is options[0])."""

# ----------------------------------------------------------------------------------------------
# text


_WS = re.compile(r"\s+")
_ARTICLE = re.compile(r"^(?:a|an|the)\s+")


def _strip_edge_punct(text: str) -> str:
    """Drop whitespace and Unicode punctuation (quotes, periods, brackets...) at both ends."""
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or unicodedata.category(text[start]).startswith("P")):
        start += 1
    while end > start and (text[end - 1].isspace() or unicodedata.category(text[end - 1]).startswith("P")):
        end -= 1
    return text[start:end]


def normalize_text(text: str | None) -> str:
    """Canonical form for exact-match comparison of short answers.

    NFKC, lowercase, collapse whitespace, strip punctuation at the ends and drop one leading
    article ("a", "an", "the"), so "The Red." and "red" compare equal but "red car" and "car" don't.
    """
    if not text:
        return ""
    out = _WS.sub(" ", unicodedata.normalize("NFKC", str(text)).lower())
    out = _strip_edge_punct(out)
    out = _ARTICLE.sub("", out)
    return _strip_edge_punct(out)


def score_text(predicted_answer: str | None, reference: str) -> float:
    """1.0 on normalised exact match (see ``normalize_text``), else 0.0."""
    pred = normalize_text(predicted_answer)
    return 1.0 if pred and pred == normalize_text(reference) else 0.0


# ----------------------------------------------------------------------------------------------
# math


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_MATH_MAX_CHARS = 2000
# math-verify runs sympy without a timeout here (see score_math), so inputs whose evaluation can
# take unbounded time are refused up front: nested powers (9^{9^{9}}), huge exponents, factorials of
# expressions or of big numbers. The reference is trusted; only the prediction is screened.
_POWER = re.compile(r"\^|\*\*")
_BIG_EXPONENT = re.compile(r"(?:\^|\*\*)\s*\{?\s*[+-]?\d{7,}")
_CHAINED_POWER = re.compile(r"(?:\^|\*\*)\s*[\w.]+\s*(?:\^|\*\*)")
_RISKY_FACTORIAL = re.compile(r"(?:[)}\]]|\d{6,})\s*!")


def parse_number(text: str | None) -> float | None:
    """The value of a plain finite number ("7", "-0.5", "1e3", "1,000", "$7$"), else None."""
    if not text:
        return None
    s = str(text).strip().strip("$").strip()
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if not _NUMBER.fullmatch(s):
        return None
    try:
        value = float(s)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _exponent_group(text: str, start: int) -> str:
    """The exponent written right after position ``start``: a {...} / (...) group or one token."""
    i = start
    while i < len(text) and text[i].isspace():
        i += 1
    if i < len(text) and text[i] in "{(":
        close = "}" if text[i] == "{" else ")"
        depth = 0
        for j in range(i, len(text)):
            if text[j] == text[i]:
                depth += 1
            elif text[j] == close:
                depth -= 1
                if depth == 0:
                    return text[i + 1 : j]
        return text[i + 1 :]
    match = re.match(r"[\w.\\]+", text[i:])
    return match.group(0) if match else ""


def _is_explosive(text: str) -> bool:
    """True when sympy could spend unbounded time evaluating ``text`` (see the patterns above)."""
    if len(text) > _MATH_MAX_CHARS:
        return True
    if _BIG_EXPONENT.search(text) or _CHAINED_POWER.search(text) or _RISKY_FACTORIAL.search(text):
        return True
    for match in _POWER.finditer(text):
        exponent = _exponent_group(text, match.end())
        if _POWER.search(exponent) or "!" in exponent:
            return True
    return False


def _compact_math(text: str) -> str:
    """Whitespace-free form for a cheap identical-expression check (signs and case kept: "-x" != "x")."""
    return _WS.sub("", text.strip().strip("$")).rstrip(".")


def _latex_wrapped(text: str) -> str:
    """Wrap bare answers in $...$ so math-verify's LaTeX extractor reads "\\frac12" or "-3" whole."""
    if any(marker in text for marker in ("$", "\\(", "\\[", "\\boxed")):
        return text
    return f"${text}$"


def _math_verify_equal(predicted: str, reference: str) -> bool:
    """math-verify equivalence, with every failure (parse error, sympy crash) read as "not equal".

    Timeouts are disabled (``parsing_timeout=None``, ``timeout_seconds=None``): math-verify's
    timeouts use SIGALRM, which raises off the main thread (dataloader workers, async reward loops)
    and cannot interrupt long C-level big-integer arithmetic anyway. ``_is_explosive`` guards instead.
    """
    try:
        from math_verify import parse, verify

        gold = parse(_latex_wrapped(reference), parsing_timeout=None) or parse(
            reference, parsing_timeout=None
        )
        if not gold:
            return False
        pred = parse(_latex_wrapped(predicted), parsing_timeout=None) or parse(
            predicted, parsing_timeout=None
        )
        if not pred:
            return False
        return bool(verify(gold, pred, timeout_seconds=None))
    except Exception:  # any failure on model output means "not verified", never a crash
        _log.debug("math-verify failed on %r vs %r", predicted, reference, exc_info=True)
        return False


# math-verify logs a warning the first time timeouts are disabled; that is deliberate here.
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def score_math(predicted_answer: str | None, reference: str) -> float:
    """1.0 if the prediction equals the reference numerically or symbolically, else 0.0.

    Order: plain numbers compare with relative tolerance 1e-6 ("7" == "7.0", "7" != "5"); identical
    normalised strings match; otherwise math-verify decides ("\\frac{1}{2}" == "0.5"). Unlike the
    release's Stage-3 rule, which could score an empty answer or a different number as right, those
    never score.
    """
    if predicted_answer is None or reference is None:
        return 0.0
    pred = str(predicted_answer).strip()
    ref = str(reference).strip()
    if not pred or not ref:
        return 0.0
    pred_num, ref_num = parse_number(pred), parse_number(ref)
    if pred_num is not None and ref_num is not None:
        return 1.0 if math.isclose(pred_num, ref_num, rel_tol=1e-6, abs_tol=0.0) else 0.0
    compact = _compact_math(pred)
    if compact and compact == _compact_math(ref):
        return 1.0
    if _is_explosive(pred):
        return 0.0
    return 1.0 if _math_verify_equal(pred, ref) else 0.0


# ----------------------------------------------------------------------------------------------
# box


_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_BOX = re.compile(rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]")


def parse_box(text: str | None) -> list[float] | None:
    """The first ``[x1, y1, x2, y2]`` list of four finite numbers in the text, else None.

    JSON answers such as ``{"bbox_2d": [1, 2, 3, 4]}`` and lists inside prose are found too.
    Coordinates are returned as given (no reordering, no scaling).
    """
    if not text or not isinstance(text, str):
        return None
    for match in _BOX.finditer(text):
        try:
            box = [float(v) for v in match.groups()]
        except (ValueError, OverflowError):
            continue
        if all(math.isfinite(v) for v in box):
            return box
    return None


def box_iou(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    """Intersection over union of two [x1, y1, x2, y2] boxes in continuous coordinates.

    No "+1 pixel" convention (the Curr-ReFT release's borrowed IoU mixed pixel-inclusive and
    continuous coordinates). Boxes with
    x2 < x1 or y2 < y1 have zero area; a zero or non-finite union gives 0.0.
    """
    try:
        ax1, ay1, ax2, ay2 = (float(v) for v in a)
        bx1, by1, bx2, by2 = (float(v) for v in b)
        inter_w = min(ax2, bx2) - max(ax1, bx1)
        inter_h = min(ay2, by2) - max(ay1, by1)
        inter = max(0.0, inter_w) * max(0.0, inter_h)
        area_a = max(0.0, ax2 - ax1) * max(0.0, ay2 - ay1)
        area_b = max(0.0, bx2 - bx1) * max(0.0, by2 - by1)
        union = area_a + area_b - inter
        if not math.isfinite(union) or union <= 0.0 or not math.isfinite(inter):
            return 0.0
        return min(1.0, max(0.0, inter / union))
    except (TypeError, ValueError, OverflowError):
        return 0.0


def score_box(
    predicted_answer: str | None, reference: str, iou_threshold: float = DEFAULT_BOX_IOU_THRESHOLD
) -> float:
    """1.0 if the first predicted box overlaps the reference box with IoU > threshold, else 0.0."""
    pred = parse_box(predicted_answer)
    ref = parse_box(reference)
    if pred is None or ref is None:
        return 0.0
    return 1.0 if box_iou(pred, ref) > iou_threshold else 0.0


# ----------------------------------------------------------------------------------------------
# labels


_LABEL_SEP = re.compile(r"[,;\n，、；]+")
_LITERAL_MAX_CHARS = 10_000


def parse_labels(text: str | None) -> set[str]:
    """The set of normalised labels in an answer.

    A Python/JSON list literal ("['cat', 'dog']") is read with ``ast.literal_eval`` (the Curr-ReFT
    release meant to, but its parser scored list answers 0); anything else is split on commas, semicolons, newlines and CJK commas. Whitespace
    does NOT split, so "traffic light" stays one label. Labels are normalised like ``score_text``.
    """
    if not text or not isinstance(text, str):
        return set()
    s = text.strip()
    items: list[str] | None = None
    if s[:1] in "[({" and len(s) <= _LITERAL_MAX_CHARS:
        try:
            value: Any = ast.literal_eval(s)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [str(v) for v in value]
        elif isinstance(value, str):
            s = value
    if items is None:
        if s[:1] in "[({" and s[-1:] in "])}":
            s = s[1:-1]
        items = _LABEL_SEP.split(s)
    return {label for label in (normalize_text(item) for item in items) if label}


def score_labels(predicted_answer: str | None, reference: str) -> float:
    """Jaccard index |P & G| / |P | G| of predicted and reference label sets (continuous in [0, 1])."""
    pred = parse_labels(predicted_answer)
    ref = parse_labels(reference)
    if not pred or not ref:
        return 0.0
    return len(pred & ref) / len(pred | ref)


# ----------------------------------------------------------------------------------------------
# yes / no


_YES = re.compile(r"(?<![a-z0-9])(?:yes|true|correct)(?![a-z0-9])")
_NO = re.compile(r"(?<![a-z0-9])(?:no|false|incorrect)(?![a-z0-9])")


def parse_yes_no(text: str | None) -> str | None:
    """Map an answer to "yes" / "no" by whole words (yes|true|correct vs no|false|incorrect).

    Both kinds present means None (ambiguous, scores 0). This is stricter than the paper, where
    "yes" wins, which would reward hedging answers such as "yes or no".
    """
    if not text or not isinstance(text, str):
        return None
    lowered = unicodedata.normalize("NFKC", text).lower()
    has_yes = _YES.search(lowered) is not None
    has_no = _NO.search(lowered) is not None
    if has_yes == has_no:
        return None
    return "yes" if has_yes else "no"


def score_yes_no(predicted_answer: str | None, reference: str) -> float:
    """1.0 if the prediction maps to the same yes/no as the reference, else 0.0."""
    pred = parse_yes_no(predicted_answer)
    return 1.0 if pred is not None and pred == parse_yes_no(reference) else 0.0


# ----------------------------------------------------------------------------------------------
# multiple choice


_LETTER = re.compile(rf"(?<![A-Za-z])[{OPTION_LETTERS}](?![A-Za-z])")
# "I think ...", "I'm": the pronoun, not option I. "I and J" / "I or J" still count as letters.
_PRONOUN_I = re.compile(r"(?:\s+(?!(?:and|or)\b)[a-z]|['’][a-z])")


def parse_choice_letters(text: str | None) -> set[str]:
    """The set of option letters A-J written as standalone UPPERCASE letters ("B", "(B)", "B.", "A, C").

    Case-sensitive on purpose: the article "a" is not option A (the paper uppercased first). The
    pronoun "I" followed by a lowercase word is skipped. Sentence-initial "A dog ..." still reads
    as option A; prompts ask for letters only, so that case is left to the format training.
    """
    if not text or not isinstance(text, str):
        return set()
    s = unicodedata.normalize("NFKC", text)
    letters: set[str] = set()
    for match in _LETTER.finditer(s):
        if match.group(0) == "I" and _PRONOUN_I.match(s, match.end()):
            continue
        letters.add(match.group(0))
    return letters


def check_fraction(name: str, value: float) -> float:
    """`value` as a float, or ValueError naming `name` unless it is a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def score_choice(
    predicted_answer: str | None, reference: str, partial_credit: float = DEFAULT_CHOICE_PARTIAL_CREDIT
) -> float:
    """Order-insensitive letter-set match: 1.0 exact, ``partial_credit`` for a strict subset, else 0.

    A non-empty strict subset of the reference letters (missed some, no wrong letter) earns the
    paper's 0.2 partial credit for multi-select items (the release compared letters in order); any
    wrong letter gives 0.
    """
    partial_credit = check_fraction("partial_credit", partial_credit)
    pred = parse_choice_letters(predicted_answer)
    ref = parse_choice_letters(reference)
    if not pred or not ref:
        return 0.0
    if pred == ref:
        return 1.0
    if pred < ref:
        return partial_credit
    return 0.0


# ----------------------------------------------------------------------------------------------
# dispatch


def score_answer(
    predicted_answer: str | None,
    reference: str,
    task: str,
    *,
    choice_partial_credit: float = DEFAULT_CHOICE_PARTIAL_CREDIT,
    box_iou_threshold: float = DEFAULT_BOX_IOU_THRESHOLD,
) -> float:
    """Score an extracted answer by the rule of its sample's ``task`` (see currvl.data.schema)."""
    if task == "text":
        return score_text(predicted_answer, reference)
    if task == "math":
        return score_math(predicted_answer, reference)
    if task == "box":
        return score_box(predicted_answer, reference, iou_threshold=box_iou_threshold)
    if task == "labels":
        return score_labels(predicted_answer, reference)
    if task == "yes_no":
        return score_yes_no(predicted_answer, reference)
    if task == "choice":
        return score_choice(predicted_answer, reference, partial_credit=choice_partial_credit)
    raise ValueError(f"unknown task {task!r}; expected one of {TASK_TYPES}")
