"""The target concept of a sample, and whether a rollout names it.

RCPA and Curr-ReFT both hinge on one question: can the policy ever produce what the reward pays
for? The concept rate (the fraction of rollouts that contain the target concept) answers it
directly, without the format reward or a forced reference prefix blurring it. The concept is:

- a short open answer ("nodule", "3", "red": at most three words, not a sentence ending in ".")
  for ``text`` / ``labels`` items: the answer itself (each label for a label set), matched as
  whole words, case-insensitively;
- a long-form answer (a report or caption): the finding terms it asserts (``asserted_findings``
  over a vocabulary); a rollout contains the concept when it asserts all of them.

Yes/no, choice, box and math items have no concept (None): their answers name no domain term.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from currvl.rewards.similarity import DEFAULT_FINDINGS_VOCABULARY, asserted_findings

MAX_SHORT_ANSWER_WORDS = 3


def target_concepts(
    answer: str | None, task: str | None, vocabulary: Iterable[str] = DEFAULT_FINDINGS_VOCABULARY
) -> frozenset[str] | None:
    """The terms a rollout must contain for this sample, or None when the sample has no concept."""
    if not answer or task not in ("text", "labels"):
        return None
    answer = str(answer).strip()
    if task == "labels":
        terms = frozenset(t.strip().lower() for t in answer.split(",") if t.strip())
        return terms or None
    if len(answer.split()) <= MAX_SHORT_ANSWER_WORDS and not answer.endswith("."):
        return frozenset([answer.lower()])
    return frozenset(asserted_findings(answer, tuple(vocabulary))) or None


def find_word(text: str, word: str) -> int | None:
    """Where `word` first stands in `text` as a whole word (case as given), or None."""
    m = re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", text)
    return m.start() if m else None


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(phrase) + r"s?(?!\w)", text) is not None


def contains_concept(
    text: str, concepts: frozenset[str], vocabulary: Iterable[str] = DEFAULT_FINDINGS_VOCABULARY
) -> bool:
    """True when `text` names every concept: as a whole word (plural allowed), or, for finding
    terms of the vocabulary, as an asserted (not negated) finding."""
    vocabulary = tuple(vocabulary)
    lowered = text.lower()
    found = asserted_findings(text, vocabulary) if any(c in vocabulary for c in concepts) else set()
    return all(c in found if c in vocabulary else _has_phrase(lowered, c) for c in concepts)
