"""Graded similarity rewards in [0, 1] (RCPA's curated rewards), by domain kind:

- captioning: ``cider`` (CIDEr-D / 10) or ``rouge_l``;
- report generation: ``rouge_l`` and/or ``findings_f1``;
- geometry QA: the rule reward ``accuracy`` already covers it ("math" rows go through math-verify,
  "choice" rows by option letters); no name of its own.

They compare the ``<answer>`` content (the whole completion when it has no answer tag) with the row's
``answer``, a str or a list of reference strings. ``similarity_threshold`` (delta) gates them through
`gate`: s -> s if s >= delta else 0; a curriculum can raise it during training with the reward's
``set_similarity_threshold(delta)``, and with delta > 0 they log the ungated batch mean through TRL's
``log_metric`` as "rewards/<name>/ungated_mean".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from currvl.rewards.parsing import completion_text, extract_answer
from currvl.rewards.rule_rewards import column
from currvl.rewards.scoring import check_fraction
from currvl.rewards.similarity import (
    DEFAULT_FINDINGS_VOCABULARY,
    CiderCorpus,
    cider_d,
    findings_f1,
    rouge_l,
)


def gate(score: float | None, delta: float) -> float | None:
    """A graded score counts only at or above the threshold: s * 1[s >= delta] (None and NaN pass)."""
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return score
    return score if score >= delta else 0.0


def _similarity_text(completion: Any) -> str:
    """The ``<answer>`` content when the completion has the tag, else the whole completion text."""
    text = completion_text(completion)
    answer = extract_answer(text)
    return text if answer is None else answer


def _references(answer: Any) -> list[str] | None:
    """A row's reference(s): a str, or a list/tuple of str (several captions); None if it has none."""
    if answer is None:
        return None
    if isinstance(answer, (list, tuple)):
        refs = [str(a) for a in answer if a is not None]
        return refs or None
    return [str(answer)]


class SimilarityReward:
    """Base of the graded rewards: reads the references, scores each completion, applies the gate."""

    def __init__(self, name: str, similarity_threshold: float = 0.0) -> None:
        self.__name__ = name
        self.similarity_threshold = similarity_threshold

    @property
    def similarity_threshold(self) -> float:
        """delta: scores below it become 0 (RCPA's reward threshold); a curriculum may move it every step."""
        return self._threshold

    @similarity_threshold.setter
    def similarity_threshold(self, value: float) -> None:
        self._threshold = check_fraction("similarity_threshold", value)

    def set_similarity_threshold(self, value: float) -> None:
        """Move delta. Use this rather than assigning the attribute on what ``get_reward_funcs``
        returns: its ``GuardedReward`` wrapper forwards attribute reads and method calls, not writes.
        """
        self.similarity_threshold = value

    def _score(self, text: str, references: list[str]) -> float:
        raise NotImplementedError

    def _prepare(self, references: list[list[str] | None], kwargs: dict[str, Any]) -> None:
        """Hook run on the whole batch before scoring (the cider reward grows its corpus here)."""

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        answers = column(kwargs, "answer", len(completions), self.__name__)
        references = [_references(a) for a in answers]
        self._prepare(references, kwargs)
        raw: list[float | None] = [
            None if refs is None else self._score(_similarity_text(completion), refs)
            for completion, refs in zip(completions, references, strict=True)
        ]
        delta = self.similarity_threshold
        log_metric = kwargs.get("log_metric")
        scored = [r for r in raw if r is not None]
        if delta > 0 and callable(log_metric) and scored:
            log_metric(f"rewards/{self.__name__}/ungated_mean", sum(scored) / len(scored))
        return [gate(r, delta) for r in raw]

    def __repr__(self) -> str:
        return f"<reward {self.__name__} similarity_threshold={self.similarity_threshold}>"


class RougeLReward(SimilarityReward):
    """ROUGE-L F1 against the best-matching reference; logged as "rouge_l"."""

    def __init__(self, similarity_threshold: float = 0.0) -> None:
        super().__init__("rouge_l", similarity_threshold)

    def _score(self, text: str, references: list[str]) -> float:
        return rouge_l(text, references)


def _load_corpus(corpus: Any) -> CiderCorpus:
    """A CIDEr corpus from a CiderCorpus or a list of references (one str or list of str per document).
    A recipe may name a dataset instead: `currvl.training.builders.resolve_reward_options` reads it."""
    if isinstance(corpus, CiderCorpus):
        return corpus
    if isinstance(corpus, (list, tuple)):
        built = CiderCorpus(refs for refs in (_references(d) for d in corpus) if refs)
    else:
        raise ValueError(
            "cider_corpus must be a list of references (in a recipe: also a dataset spec, a .jsonl path, a "
            f"folder, 'synthetic:<world>:<n>' or a Hub name), got {type(corpus).__name__}"
        )
    if len(built) < 2:
        raise ValueError(f"cider_corpus needs at least 2 documents for IDF, got {len(built)}")
    return built


class CiderReward(SimilarityReward):
    """CIDEr-D / 10 (see ``similarity.cider_d``); logged as "cider".

    IDF comes from ``corpus`` when given (fixed). Without one the reward builds its corpus lazily
    from the ``answer`` values it is called with, one document per row ``id`` (per distinct
    reference set when rows have no id), added before the batch is scored. After one epoch that is
    the training set's corpus; before then IDF is computed from the rows seen so far (uniform while
    fewer than 2 documents are known), so early rewards of the same text can drift a little. Each
    process of a multi-GPU run grows its own corpus. Pass a corpus to have a fixed IDF from step one.
    """

    def __init__(self, similarity_threshold: float = 0.0, corpus: Any = None) -> None:
        super().__init__("cider", similarity_threshold)
        self.lazy = corpus is None
        self.corpus = CiderCorpus() if corpus is None else _load_corpus(corpus)
        self._seen: set[Any] = set()

    def _prepare(self, references: list[list[str] | None], kwargs: dict[str, Any]) -> None:
        if not self.lazy:
            return
        ids = kwargs.get("id")
        ids = list(ids) if ids is not None and len(ids) == len(references) else [None] * len(references)
        for refs, sample_id in zip(references, ids, strict=True):
            if refs is None:
                continue
            key = ("id", sample_id) if isinstance(sample_id, str) and sample_id else ("refs", tuple(refs))
            if key not in self._seen:
                self._seen.add(key)
                self.corpus.add(refs)

    def _score(self, text: str, references: list[str]) -> float:
        return cider_d(text, references, self.corpus)

    def __repr__(self) -> str:
        source = "lazy" if self.lazy else "fixed"
        return (
            f"<reward cider similarity_threshold={self.similarity_threshold} "
            f"corpus={source}:{len(self.corpus)} documents>"
        )


def _check_vocabulary(vocabulary: Any) -> tuple[str, ...]:
    if isinstance(vocabulary, str) or not isinstance(vocabulary, (list, tuple)):
        raise ValueError(f"findings_vocabulary must be a list of terms, got {vocabulary!r}")
    terms = tuple(vocabulary)
    if not terms or not all(isinstance(t, str) and t.strip() for t in terms):
        raise ValueError(
            f"findings_vocabulary must be a non-empty list of non-empty strings, got {vocabulary!r}"
        )
    return terms


class FindingsF1Reward(SimilarityReward):
    """F1 over asserted finding terms (see ``similarity.findings_f1``); logged as "findings_f1".

    Several references: the best F1 over them.
    """

    def __init__(
        self, similarity_threshold: float = 0.0, vocabulary: Sequence[str] = DEFAULT_FINDINGS_VOCABULARY
    ) -> None:
        super().__init__("findings_f1", similarity_threshold)
        self.vocabulary = _check_vocabulary(vocabulary)

    def _score(self, text: str, references: list[str]) -> float:
        return max(findings_f1(text, ref, self.vocabulary) for ref in references)
