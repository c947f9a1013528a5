"""Graded text-similarity scores in [0, 1] for generative answers (captions, reports): RCPA's Sim.

RCPA rewards captioning and report generation by similarity to the
reference, gated by a threshold; geometry QA keeps exact answer checking (``score_math``, reached
through the ``accuracy`` reward for rows whose ``task`` is "math"). The metrics come from maintained
packages rather than being re-implemented:

- ``rouge_l``: ROUGE-L F1 from Google's ``rouge-score``, best over the references.
- ``cider_d``: CIDEr-D from ``pycocoevalcap`` (its ``Cider`` scorer is the CIDEr-D variant: clipped
  n-gram counts and a Gaussian length penalty), with IDF from a reference corpus, divided by 10.
- ``findings_f1``: F1 over the finding terms a report asserts, with simple negation handling.

All three share one tokenizer (``tokenize``: NFKC, lowercase, runs of letters and digits), so
punctuation and case never matter and no Java PTB tokenizer is needed. Scorers take the already
extracted answer text; None or empty text scores 0.0, and no scorer raises on model output.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

_TOKEN = re.compile(r"[^\W_]+")

References = str | Sequence[str]


def tokenize(text: str | None) -> list[str]:
    """Lowercase word tokens: runs of Unicode letters and digits; punctuation and "_" split words.

    Like the ``rouge-score`` default for English, but keeps non-ASCII letters (its default drops them).
    """
    if not text:
        return []
    return _TOKEN.findall(unicodedata.normalize("NFKC", str(text)).lower())


def _as_references(references: References | None) -> list[str]:
    """A str reference as a one-item list; None and non-str items are dropped."""
    if references is None:
        return []
    if isinstance(references, str):
        return [references]
    return [r for r in references if isinstance(r, str)]


# ----------------------------------------------------------------------------------------------
# ROUGE-L


class _Tokenizer:
    """The ``tokenizer`` interface ``rouge_score.rouge_scorer.RougeScorer`` accepts."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


@cache
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer  # imported on first use: it pulls in nltk

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=_Tokenizer())


def rouge_l(candidate: str | None, references: References | None) -> float:
    """ROUGE-L F1 (longest common subsequence of tokens) of the candidate, best over the references.

    No stemming, so "nodules" and "nodule" differ. 0.0 when the candidate or every reference is empty.
    """
    refs = [r for r in _as_references(references) if tokenize(r)]
    if not refs or not tokenize(candidate):
        return 0.0
    best = _rouge_scorer().score_multi(refs, str(candidate))["rougeL"].fmeasure
    return min(1.0, max(0.0, float(best)))


# ----------------------------------------------------------------------------------------------
# CIDEr-D

CIDER_N = 4  # n-grams of 1..4 words, as in CIDEr-D
CIDER_SIGMA = 6.0  # the length penalty's standard deviation, as in CIDEr-D
CIDER_SCALE = 10.0  # pycocoevalcap multiplies the mean cosine by 10; a perfect match scores 10


class _Frequencies(dict):
    """Document frequencies that read 0 for an unseen n-gram without storing it.

    pycocoevalcap looks n-grams up in a defaultdict, which would grow the shared corpus table with
    every n-gram any candidate ever produced.
    """

    def __missing__(self, key: Any) -> float:
        return 0.0


def _ngrams(tokens: Sequence[str], n: int = CIDER_N) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + k]) for k in range(1, n + 1) for i in range(len(tokens) - k + 1)}


class CiderCorpus:
    """Document frequencies of reference n-grams, for CIDEr-D's IDF weights.

    A document is the reference set of one item (one image): an n-gram counts once per document.
    The IDF of an n-gram is log(N) - log(max(1, df)), so n-grams that every reference uses ("a",
    "the organ") weigh nothing and rare, specific ones weigh most. Build it from the whole training
    set's references so IDF is meaningful even when a single answer is scored; ``add`` grows it.
    """

    def __init__(self, documents: Iterable[References] = ()) -> None:
        self.frequencies: dict[tuple[str, ...], float] = _Frequencies()
        self.num_documents = 0
        for document in documents:
            self.add(document)

    def add(self, references: References) -> None:
        """Count one document (an item's reference or references)."""
        grams: set[tuple[str, ...]] = set()
        for ref in _as_references(references):
            grams |= _ngrams(tokenize(ref))
        for gram in grams:
            self.frequencies[gram] += 1.0
        self.num_documents += 1

    def __len__(self) -> int:
        return self.num_documents

    def __repr__(self) -> str:
        return f"CiderCorpus(documents={self.num_documents}, ngrams={len(self.frequencies)})"


@cache
def _scorer_class() -> type:
    from pycocoevalcap.cider.cider_scorer import CiderScorer

    class _CorpusCiderScorer(CiderScorer):
        """pycocoevalcap's CIDEr-D scorer with IDF from a fixed corpus instead of the scored batch.

        ``CiderScorer.compute_score`` derives document frequencies and log(N) from the items being
        scored, so a batch of one gets zero IDF everywhere. Here the frequencies are the corpus's and
        ``ref_len`` (its log(N)) ignores the batch size ``compute_cider`` would assign.
        """

        def __init__(self, frequencies: dict[tuple[str, ...], float], log_n: float) -> None:
            self._log_n = log_n
            super().__init__(n=CIDER_N, sigma=CIDER_SIGMA)
            self.document_frequency = frequencies

        @property
        def ref_len(self) -> float:
            return self._log_n

        @ref_len.setter
        def ref_len(self, value: Any) -> None:
            pass  # keep the corpus's log(N)

    return _CorpusCiderScorer


_NO_FREQUENCIES: dict[tuple[str, ...], float] = _Frequencies()


def cider_d(
    candidate: str | None,
    references: References | None,
    corpus_refs: CiderCorpus | Iterable[References] | None = None,
) -> float:
    """CIDEr-D of the candidate against its references, scaled to [0, 1] as min(CIDEr-D / 10, 1).

    pycocoevalcap's CIDEr-D is 10 x the mean over n = 1..4 of the (clipped, length-penalised) TF-IDF
    cosine, averaged over the references, so it lies in [0, 10] and the candidate equal to a single
    reference scores 10 -> 1.0. With several references the score is their average (CIDEr's
    consensus), so copying one reference scores below 1. Candidates shorter than 4 words lack the
    4-gram term and cannot reach 1.

    ``corpus_refs`` (a ``CiderCorpus``, or the documents to build one from: pass a prebuilt corpus
    when scoring many answers) gives the IDF. Without one, or with fewer than 2 documents, every
    n-gram weighs the same (plain TF cosine): IDF from a single document would be zero everywhere.
    """
    refs = [r for r in _as_references(references) if tokenize(r)]
    cand = tokenize(candidate)
    if not refs or not cand:
        return 0.0
    if isinstance(corpus_refs, str):  # one document, not an iterable of characters
        corpus_refs = [corpus_refs]
    if corpus_refs is not None and not isinstance(corpus_refs, CiderCorpus):
        corpus_refs = CiderCorpus(corpus_refs)
    if corpus_refs is None or len(corpus_refs) < 2:
        frequencies, log_n = _NO_FREQUENCIES, 1.0  # df 0 everywhere: IDF = log_n for all n-grams
    else:
        frequencies, log_n = corpus_refs.frequencies, math.log(len(corpus_refs))
    scorer = _scorer_class()(frequencies, log_n)
    scorer += (" ".join(cand), [" ".join(tokenize(r)) for r in refs])
    try:
        (score,) = scorer.compute_cider()
    except (AssertionError, FloatingPointError, ValueError):  # never crash a training step
        return 0.0
    score = float(score) / CIDER_SCALE
    return min(1.0, max(0.0, score)) if math.isfinite(score) else 0.0


# ----------------------------------------------------------------------------------------------
# findings F1

DEFAULT_FINDINGS_VOCABULARY: tuple[str, ...] = (
    # the synthetic scan world
    "nodule",
    "cyst",
    "mass",
    "calcification",
    # common chest X-ray findings (CheXpert observations and OpenI report terms)
    "atelectasis",
    "cardiomegaly",
    "consolidation",
    "edema",
    "effusion",
    "emphysema",
    "fracture",
    "granuloma",
    "hernia",
    "infiltrate",
    "lesion",
    "opacity",
    "pneumonia",
    "pneumothorax",
    "scarring",
)
"""Finding terms ``findings_f1`` looks for by default; pass your own for another domain."""

# A cue negates the finding terms after it up to the end of its clause ("no nodule or mass").
_PRE_NEGATION: tuple[tuple[str, ...], ...] = (
    ("no",),
    ("not",),
    ("without",),
    ("negative", "for"),
    ("free", "of"),
    ("absence", "of"),
    ("rule", "out"),
    ("ruled", "out"),
)
# A cue after a term negates that term when at most _POST_WINDOW tokens lie between ("mass is absent").
_POST_NEGATION: tuple[tuple[str, ...], ...] = (
    ("absent",),
    ("not", "seen"),
    ("not", "present"),
    ("not", "identified"),
    ("not", "visible"),
    ("ruled", "out"),
    ("excluded",),
    ("resolved",),
)
_POST_WINDOW = 3
# Clause ends: sentence punctuation and contrasting conjunctions ("no nodule, but a mass").
_CLAUSE_BREAK = re.compile(r"[.;:!?\n]|\b(?:but|however|although|though|whereas|except)\b", re.IGNORECASE)


def _term_tokens(vocabulary: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each vocabulary term (lowercased, tokenized) by its display form; empty terms are dropped."""
    terms: dict[str, tuple[str, ...]] = {}
    for term in vocabulary:
        tokens = tuple(tokenize(term))
        if tokens:
            terms[" ".join(tokens)] = tokens
    return terms


def _matches(tokens: Sequence[str], at: int, pattern: Sequence[str], plural: bool = False) -> bool:
    """``pattern`` occurs at ``tokens[at:]``; with ``plural`` its last word may end in "s" / "es"."""
    if at + len(pattern) > len(tokens):
        return False
    for offset, word in enumerate(pattern):
        token = tokens[at + offset]
        last = offset == len(pattern) - 1
        if token != word and not (plural and last and token in (word + "s", word + "es")):
            return False
    return True


def _cue_ends(tokens: Sequence[str], cues: Sequence[Sequence[str]]) -> list[tuple[int, int]]:
    """(start, end) token spans of every negation cue."""
    return [(i, i + len(cue)) for i in range(len(tokens)) for cue in cues if _matches(tokens, i, cue)]


def asserted_findings(text: str | None, vocabulary: Iterable[str] = DEFAULT_FINDINGS_VOCABULARY) -> set[str]:
    """The vocabulary terms the text states as present (at least one mention not negated).

    Negation is NegEx-like and deliberately simple: a cue such as "no", "without" or "negative
    for" negates the terms after it in the same clause ("No nodule or mass." negates both; "No
    nodule, but a mass." only the nodule), and "absent" / "not seen" just after a term negates it.
    Plurals ("nodules") match their term. Hedges ("possible mass") count as present.
    """
    if not text:
        return set()
    terms = _term_tokens(vocabulary)
    found: set[str] = set()
    for clause in _CLAUSE_BREAK.split(str(text)):
        tokens = tokenize(clause)
        if not tokens:
            continue
        pre = _cue_ends(tokens, _PRE_NEGATION)
        post = _cue_ends(tokens, _POST_NEGATION)
        for name, pattern in terms.items():
            if name in found:
                continue
            for i in range(len(tokens)):
                if not _matches(tokens, i, pattern, plural=True):
                    continue
                end = i + len(pattern)
                negated = any(cue_end <= i for _, cue_end in pre) or any(
                    end <= start <= end + _POST_WINDOW for start, _ in post
                )
                if not negated:
                    found.add(name)
                    break
    return found


_STATES_NORMAL = re.compile(
    r"(?<!\w)(normal|unremarkable|no (abnormal |acute )?(findings?|abnormality))(?!\w)"
)


def states_normal(text: str | None, vocabulary: Iterable[str] = DEFAULT_FINDINGS_VOCABULARY) -> bool:
    """Does the report say that nothing abnormal was found ("No abnormal findings", "unremarkable",
    or a finding named only to be negated: "No nodule or mass")?"""
    text = (text or "").lower()
    if _STATES_NORMAL.search(text):
        return True
    tokens = tokenize(text)
    named = any(
        _matches(tokens, i, term, plural=True)
        for term in _term_tokens(vocabulary).values()
        for i in range(len(tokens))
    )
    return named and not asserted_findings(text, vocabulary)


def findings_f1(
    candidate: str | None, reference: str | None, vocabulary: Iterable[str] = DEFAULT_FINDINGS_VOCABULARY
) -> float:
    """F1 between the findings a candidate report asserts and those the reference asserts.

    Both asserting none (two normal reports) is a full match, 1.0, when the candidate says so
    (`states_normal`); exactly one asserting none is 0.0. A candidate that names nothing ("0", a
    count, an empty string) scores 0.0 even against a normal reference: saying nothing is no report,
    and a reward that paid for it is one GRPO learns to hack (it did: "<answer>0</answer>").
    """
    if not candidate or not tokenize(candidate):
        return 0.0
    vocabulary = tuple(vocabulary)
    predicted = asserted_findings(candidate, vocabulary)
    gold = asserted_findings(reference, vocabulary)
    if not predicted and not gold:
        return float(states_normal(candidate, vocabulary))
    if not predicted or not gold:
        return 0.0
    return 2.0 * len(predicted & gold) / (len(predicted) + len(gold))
