"""Structured scoring of a short findings report: did it get the finding, its size and its place?

Similarity rewards (CIDEr-D, ROUGE-L) grade a report as text; evaluation needs to say *what* a
model got right. A report is read for the finding terms it asserts (negation-aware, see
``asserted_findings``), the size word and the location word ("in the upper part"). Finding
accuracy is exact agreement of the asserted sets; a normal reference needs the candidate to say so
("No abnormal findings", "normal", "unremarkable"): a report that names nothing, "spar" for one, is not
a normal report. Size and location are scored only when the reference states them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from currvl.rewards.similarity import DEFAULT_FINDINGS_VOCABULARY, asserted_findings, states_normal

SIZE_WORDS: tuple[str, ...] = ("small", "large")
LOCATION_WORDS: tuple[str, ...] = ("central", "upper", "lower", "lateral")


def _first_word(text: str, words: Iterable[str]) -> str | None:
    hits = [(m.start(), w) for w in words for m in re.finditer(rf"(?<!\w){re.escape(w)}(?!\w)", text)]
    return min(hits)[1] if hits else None


def report_attributes(
    text: str | None, vocabulary: Iterable[str] = DEFAULT_FINDINGS_VOCABULARY
) -> dict[str, Any]:
    """{"findings": asserted terms, "size": first size word or None, "location": first location word}."""
    text = (text or "").lower()
    return {
        "findings": frozenset(asserted_findings(text, tuple(vocabulary))),
        "size": _first_word(text, SIZE_WORDS),
        "location": _first_word(text, LOCATION_WORDS),
    }


def report_scores(
    candidate: str | None, reference: str, vocabulary: Iterable[str] = DEFAULT_FINDINGS_VOCABULARY
) -> dict[str, float]:
    """Per-attribute 0/1 scores of a candidate report against the reference (see the module doc)."""
    vocabulary = tuple(vocabulary)
    ref = report_attributes(reference, vocabulary)
    cand = report_attributes(candidate, vocabulary)
    agree = cand["findings"] == ref["findings"] and (
        bool(ref["findings"]) or states_normal(candidate, vocabulary)
    )
    scores = {"finding": float(bool(candidate and candidate.strip()) and agree)}
    for key in ("size", "location"):
        if ref[key] is not None and ref["findings"]:
            scores[key] = float(cand[key] == ref[key])
    return scores
