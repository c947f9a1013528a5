"""TRL reward callables: ``f(prompts, completions, **kwargs) -> list[float | None]``.

TRL passes every dataset column as a keyword list (``answer``, ``task``, ...) plus its own extras
(``completion_ids``, ``trainer_state``, ``log_extra``, ``log_metric``), which are ignored here. A row
whose ``answer`` is None gets reward None, which TRL turns into NaN and leaves out of the group
statistics. TRL names each reward in its logs by ``__name__``; the configurable rewards are small
callable objects (picklable, unlike closures) that carry a ``__name__`` of their own.

Graded similarity rewards (RCPA's curated rewards, spec 1.6 / 5.4), by domain kind:

- captioning: ``cider`` (CIDEr-D / 10) or ``rouge_l``;
- report generation: ``rouge_l`` and/or ``findings_f1``;
- geometry QA: ``accuracy`` already covers it, since rows whose ``task`` is "math" are scored by
  ``score_math`` (numbers, then math-verify) and "choice" rows by option letters; no new name.

They compare the ``<answer>`` content (the whole completion when it has no answer tag) with the row's
``answer``, a str or a list of reference strings. ``similarity_threshold`` (delta) gates them:
s -> s if s >= delta else 0; a curriculum can raise it during training with the reward's
``set_similarity_threshold(delta)``, and with delta > 0 they log the ungated batch mean through TRL's
``log_metric`` as "rewards/<name>/ungated_mean".
"""

from __future__ import annotations

import inspect
import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from currvl.rewards.parsing import completion_text, extract_answer
from currvl.rewards.scoring import (
    _check_fraction,
    parse_box,
    parse_choice_letters,
    parse_yes_no,
    score_answer,
    score_choice,
    score_yes_no,
)
from currvl.rewards.similarity import (
    DEFAULT_FINDINGS_VOCABULARY,
    CiderCorpus,
    cider_d,
    findings_f1,
    rouge_l,
)

RewardFunc = Callable[..., list[float | None]]

_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


def _column(kwargs: dict[str, Any], name: str, n: int, reward: str) -> list[Any]:
    """A dataset column from TRL's kwargs, checked to have one value per completion."""
    if name not in kwargs or kwargs[name] is None:
        raise ValueError(
            f"the {reward!r} reward needs the dataset column {name!r}; got columns {sorted(kwargs)}"
        )
    values = list(kwargs[name])
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return values


def format_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 when the whole completion is ``<think>...</think> <answer>...</answer>`` and nothing else.

    Rows whose ``task`` is "box" must also put a parseable [x1, y1, x2, y2] box in the answer. Only
    box rows: the paper also demanded a box from yes/no and choice detection items (bug A4). Without
    a ``task`` column only the tag structure is checked.
    """
    tasks = kwargs.get("task")
    tasks = list(tasks) if tasks is not None else [None] * len(completions)
    rewards: list[float | None] = []
    for completion, task in zip(completions, tasks, strict=True):
        text = completion_text(completion).strip()
        ok = _FORMAT.fullmatch(text) is not None
        if ok and task == "box":
            ok = parse_box(extract_answer(text)) is not None
        rewards.append(1.0 if ok else 0.0)
    return rewards


def _accuracy(
    completions: Sequence[Any],
    kwargs: dict[str, Any],
    *,
    choice_partial_credit: float,
    box_iou_threshold: float,
    reward: str,
) -> list[float | None]:
    n = len(completions)
    answers = _column(kwargs, "answer", n, reward)
    tasks = _column(kwargs, "task", n, reward)
    rewards: list[float | None] = []
    for completion, answer, task in zip(completions, answers, tasks, strict=True):
        if answer is None:
            rewards.append(None)
            continue
        predicted = extract_answer(completion_text(completion))
        rewards.append(
            score_answer(
                predicted,
                str(answer),
                task,
                choice_partial_credit=choice_partial_credit,
                box_iou_threshold=box_iou_threshold,
            )
        )
    return rewards


def accuracy_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """Score each completion's <answer> against the row's ``answer`` by the rule of its ``task``.

    Defaults: choice partial credit 0.2, box IoU threshold 0.5 (use ``make_accuracy_reward`` to change).
    Raises ValueError if the ``answer`` or ``task`` column is missing or a task is unknown: those are
    data bugs, not model output.
    """
    return _accuracy(completions, kwargs, choice_partial_credit=0.2, box_iou_threshold=0.5, reward="accuracy")


def _choice(
    completions: Sequence[Any], kwargs: dict[str, Any], *, partial_credit: float, reward: str
) -> list[float | None]:
    answers = _column(kwargs, "answer", len(completions), reward)
    rewards: list[float | None] = []
    for completion, answer in zip(completions, answers, strict=True):
        if answer is None or not parse_choice_letters(str(answer)):
            rewards.append(None)  # reference has no option letter: this rule does not apply to the row
            continue
        predicted = extract_answer(completion_text(completion))
        rewards.append(score_choice(predicted, str(answer), partial_credit=partial_credit))
    return rewards


def choice_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """Option-letter reward for every row, whatever its ``task`` (1 / 0.2 partial / 0).

    Rows whose reference contains no option letter get None (not scorable by this rule).
    """
    return _choice(completions, kwargs, partial_credit=0.2, reward="choice")


def yes_no_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """Yes/no reward for every row, whatever its ``task`` (the Curr-ReFT Stage-1 rule, ambiguity = 0).

    Rows whose reference is neither yes nor no get None (not scorable by this rule).
    """
    answers = _column(kwargs, "answer", len(completions), "yes_no")
    rewards: list[float | None] = []
    for completion, answer in zip(completions, answers, strict=True):
        if answer is None or parse_yes_no(str(answer)) is None:
            rewards.append(None)
            continue
        rewards.append(score_yes_no(extract_answer(completion_text(completion)), str(answer)))
    return rewards


class _NamedReward:
    """A reward under a fixed log name; a module-level class so instances pickle (closures don't)."""

    def __init__(self, name: str, func: RewardFunc) -> None:
        self.__name__ = name
        self._func = func

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        return self._func(prompts, completions, **kwargs)

    def __repr__(self) -> str:
        return f"<reward {self.__name__}>"


class _AccuracyReward:
    """``accuracy_reward`` with its options bound; logged as "accuracy"."""

    def __init__(self, choice_partial_credit: float, box_iou_threshold: float) -> None:
        self.__name__ = "accuracy"
        self.choice_partial_credit = _check_fraction("choice_partial_credit", choice_partial_credit)
        self.box_iou_threshold = _check_fraction("box_iou_threshold", box_iou_threshold)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        return _accuracy(
            completions,
            kwargs,
            choice_partial_credit=self.choice_partial_credit,
            box_iou_threshold=self.box_iou_threshold,
            reward=self.__name__,
        )

    def __repr__(self) -> str:
        return (
            f"<reward accuracy choice_partial_credit={self.choice_partial_credit} "
            f"box_iou_threshold={self.box_iou_threshold}>"
        )


class _ChoiceReward:
    """``choice_reward`` with its partial credit bound; logged as "choice"."""

    def __init__(self, partial_credit: float) -> None:
        self.__name__ = "choice"
        self.partial_credit = _check_fraction("partial_credit", partial_credit)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        return _choice(completions, kwargs, partial_credit=self.partial_credit, reward=self.__name__)

    def __repr__(self) -> str:
        return f"<reward choice partial_credit={self.partial_credit}>"


def make_accuracy_reward(choice_partial_credit: float = 0.2, box_iou_threshold: float = 0.5) -> RewardFunc:
    """``accuracy_reward`` with other choice partial credit / box IoU threshold; ``__name__`` "accuracy"."""
    return _AccuracyReward(choice_partial_credit, box_iou_threshold)


def make_choice_reward(partial_credit: float = 0.2) -> RewardFunc:
    """``choice_reward`` with another partial credit (0.0 = no partial credit); ``__name__`` "choice"."""
    return _ChoiceReward(partial_credit)


# ----------------------------------------------------------------------------------------------
# similarity rewards


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


class _SimilarityReward:
    """Base of the graded rewards: reads the references, scores each completion, applies the gate."""

    def __init__(self, name: str, similarity_threshold: float = 0.0) -> None:
        self.__name__ = name
        self.similarity_threshold = similarity_threshold

    @property
    def similarity_threshold(self) -> float:
        """delta of RCPA spec 5.4: scores below it become 0; a curriculum may set it every step."""
        return self._threshold

    @similarity_threshold.setter
    def similarity_threshold(self, value: float) -> None:
        self._threshold = _check_fraction("similarity_threshold", value)

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
        answers = _column(kwargs, "answer", len(completions), self.__name__)
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
        return [None if r is None else (r if r >= delta else 0.0) for r in raw]

    def __repr__(self) -> str:
        return f"<reward {self.__name__} similarity_threshold={self.similarity_threshold}>"


class _RougeLReward(_SimilarityReward):
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


class _CiderReward(_SimilarityReward):
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


class _FindingsF1Reward(_SimilarityReward):
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


def make_rouge_l_reward(similarity_threshold: float = 0.0) -> RewardFunc:
    """ROUGE-L F1 reward in [0, 1], gated at ``similarity_threshold``; ``__name__`` "rouge_l"."""
    return _RougeLReward(similarity_threshold)


def make_cider_reward(similarity_threshold: float = 0.0, corpus: Any = None) -> RewardFunc:
    """CIDEr-D / 10 reward, gated at ``similarity_threshold``; ``__name__`` "cider".

    ``corpus``: None (IDF grown lazily from the ``answer`` column), a ``CiderCorpus`` or a list of
    references (a recipe's dataset spec is read into one by ``currvl.training.builders``).
    """
    return _CiderReward(similarity_threshold, corpus)


def make_findings_f1_reward(
    similarity_threshold: float = 0.0, vocabulary: Sequence[str] = DEFAULT_FINDINGS_VOCABULARY
) -> RewardFunc:
    """Findings F1 reward over ``vocabulary`` terms, gated at ``similarity_threshold``; "findings_f1"."""
    return _FindingsF1Reward(similarity_threshold, vocabulary)


REWARD_NAMES: tuple[str, ...] = ("format", "accuracy", "yes_no", "choice", "rouge_l", "cider", "findings_f1")
REWARD_OPTIONS: tuple[str, ...] = (
    "choice_partial_credit",
    "box_iou_threshold",
    "similarity_threshold",
    "cider_corpus",
    "findings_vocabulary",
)


def import_reward(spec: str) -> RewardFunc:
    """A user's own TRL-style reward, named in a recipe as 'package.module:function'."""
    import importlib

    module_name, _, attr = spec.partition(":")
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"reward {spec!r}: cannot import it ({err})") from None
    if not callable(func):
        raise ValueError(f"reward {spec!r} is not callable")
    return func


def get_reward_funcs(names: Sequence[str], **options: Any) -> list[RewardFunc]:
    """Reward callables for config names, in order, each logged under its registry name.

    ``names`` from REWARD_NAMES, or "module:function" for your own callable; ``options``: ``choice_partial_credit`` (accuracy and choice) and
    ``box_iou_threshold`` (accuracy); ``similarity_threshold`` (rouge_l, cider, findings_f1; default
    0, no gate), ``cider_corpus`` (cider; default None, IDF from the answers seen) and
    ``findings_vocabulary`` (findings_f1; default ``DEFAULT_FINDINGS_VOCABULARY``). Geometry QA needs
    no own name: ``accuracy`` scores "math" rows with math-verify. Unknown names or options raise
    ValueError listing the known ones.
    """
    if isinstance(names, str):
        names = [names]
    unknown_options = sorted(set(options) - set(REWARD_OPTIONS))
    if unknown_options:
        raise ValueError(f"unknown reward option(s) {unknown_options}; known options: {list(REWARD_OPTIONS)}")
    partial_credit = options.get("choice_partial_credit", 0.2)
    iou_threshold = options.get("box_iou_threshold", 0.5)
    similarity_threshold = options.get("similarity_threshold", 0.0)
    vocabulary = options.get("findings_vocabulary", DEFAULT_FINDINGS_VOCABULARY)
    funcs: list[RewardFunc] = []
    for name in names:
        if name == "format":
            funcs.append(_NamedReward("format", format_reward))
        elif name == "accuracy":
            funcs.append(make_accuracy_reward(partial_credit, iou_threshold))
        elif name == "yes_no":
            funcs.append(_NamedReward("yes_no", yes_no_reward))
        elif name == "choice":
            funcs.append(make_choice_reward(partial_credit))
        elif name == "rouge_l":
            funcs.append(make_rouge_l_reward(similarity_threshold))
        elif name == "cider":
            funcs.append(make_cider_reward(similarity_threshold, options.get("cider_corpus")))
        elif name == "findings_f1":
            funcs.append(make_findings_f1_reward(similarity_threshold, vocabulary))
        elif ":" in name:
            funcs.append(import_reward(name))
        else:
            raise ValueError(
                f"unknown reward {name!r}; known rewards: {list(REWARD_NAMES)} or 'module.path:function'"
            )
    return [guard_reward(f) for f in funcs]


# ------------------------------------------------------------------------------- fault-tolerant scoring

MAX_CONSECUTIVE_FAILED_CALLS = 3  # a reward failing on every sample this many calls running is a bug: stop

_log = logging.getLogger(__name__)


class GuardedReward:
    """A reward callable that survives its function raising or returning NaN/inf.

    A failed call scores every sample None, a NaN/inf score becomes None for that sample; either is logged
    once per distinct error (with the function name, step and sample) and the sample indices are kept in
    ``failed_indices`` for the trainer (``currvl.training.reliability.UnscorableRewardMixin`` leaves those
    samples out of their group baseline). None returned on purpose ("rule does not apply") is passed
    through untouched. A function that fails on every sample ``MAX_CONSECUTIVE_FAILED_CALLS`` calls in a
    row (a missing column, a bad import) raises instead of training on no signal. Keeps ``__name__``
    (TRL logs rewards by it) and pickles like the function it wraps.
    """

    def __init__(self, func: RewardFunc) -> None:
        self._func = func
        self.__name__ = getattr(func, "__name__", type(func).__name__)
        self.failed_indices: list[int] = []
        self._seen: set[tuple[str, str]] = set()
        self._failed_calls = 0

    def __getattr__(self, name: str) -> Any:  # options of the wrapped reward (e.g. partial_credit)
        if name.startswith("__") or name == "_func":
            raise AttributeError(name)
        return getattr(self._func, name)

    def __repr__(self) -> str:
        return f"<guarded {self._func!r}>"

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
        self.failed_indices = []
        try:
            raw = self._func(prompts=prompts, completions=completions, **kwargs)
        except Exception as err:
            return self._call_failed(err, len(completions or ()), kwargs)
        return self._clean(raw, kwargs)

    def _step(self, kwargs: dict[str, Any]) -> str:
        state = kwargs.get("trainer_state")
        return f"step {state.global_step + 1}: " if getattr(state, "global_step", None) is not None else ""

    def _warn_once(self, key: tuple[str, str], message: str) -> None:
        if key in self._seen:
            _log.debug(message)
            return
        self._seen.add(key)
        _log.warning("%s (further identical failures are logged at DEBUG level)", message)

    def _call_failed(self, err: Exception, n: int, kwargs: dict[str, Any]) -> list[float | None]:
        self.failed_indices = list(range(n))
        self._failed_calls += 1
        what = f"{type(err).__name__}: {err}"
        if self._failed_calls >= MAX_CONSECUTIVE_FAILED_CALLS:
            raise RuntimeError(
                f"reward {self.__name__!r} failed on every sample {self._failed_calls} calls in a row "
                f"({what}); fix the reward function or the data columns it reads"
            ) from err
        self._warn_once(
            (type(err).__name__, str(err)),
            f"{self._step(kwargs)}reward {self.__name__!r} raised on a batch of {n} samples ({what}); "
            "they are unscorable by it this time",
        )
        return [None] * n

    def _clean(self, raw: Any, kwargs: dict[str, Any]) -> list[float | None]:
        out: list[float | None] = []
        for i, value in enumerate(raw):
            if value is None:
                out.append(None)
                continue
            try:
                score = float(value)
            except (TypeError, ValueError):
                score = math.nan
            if math.isfinite(score):
                out.append(score)
                continue
            out.append(None)
            self.failed_indices.append(i)
            self._warn_once(
                ("non-finite", repr(value)),
                f"{self._step(kwargs)}reward {self.__name__!r} returned {value!r} for sample {i} of "
                f"{len(raw)}; that sample is unscorable",
            )
        all_failed = bool(out) and len(self.failed_indices) == len(out)
        self._failed_calls = self._failed_calls + 1 if all_failed else 0
        if self._failed_calls >= MAX_CONSECUTIVE_FAILED_CALLS:
            raise RuntimeError(
                f"reward {self.__name__!r} returned no finite score for any sample {self._failed_calls} "
                "calls in a row; fix the reward function"
            )
        return out


class AsyncGuardedReward(GuardedReward):
    """``GuardedReward`` for an async reward function (TRL awaits it on its event loop)."""

    async def __call__(
        self, prompts: Any = None, completions: Any = None, **kwargs: Any
    ) -> list[float | None]:
        self.failed_indices = []
        try:
            raw = await self._func(prompts=prompts, completions=completions, **kwargs)
        except Exception as err:
            return self._call_failed(err, len(completions or ()), kwargs)
        return self._clean(raw, kwargs)


def guard_reward(func: RewardFunc) -> GuardedReward:
    """Wrap ``func`` in a ``GuardedReward`` (async-aware; wrapping twice is a no-op)."""
    if isinstance(func, GuardedReward):
        return func
    # an async callable object carries the `async` on its class's __call__
    is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)
    return AsyncGuardedReward(func) if is_async else GuardedReward(func)
