"""TRL reward callables: ``f(prompts, completions, **kwargs) -> list[float | None]``.

TRL passes every dataset column as a keyword list (``answer``, ``task``, ...) plus its own extras
(``completion_ids``, ``trainer_state``, ``log_extra``, ``log_metric``), which are ignored here. A row
whose ``answer`` is None gets reward None, which TRL turns into NaN and leaves out of the group
statistics. TRL names each reward in its logs by ``__name__``; the configurable rewards are small
callable objects (picklable, unlike closures) that carry a ``__name__`` of their own.
"""

from __future__ import annotations

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


REWARD_NAMES: tuple[str, ...] = ("format", "accuracy", "yes_no", "choice")
REWARD_OPTIONS: tuple[str, ...] = ("choice_partial_credit", "box_iou_threshold")


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
    ``box_iou_threshold`` (accuracy). Unknown names or options raise ValueError listing the known ones.
    """
    if isinstance(names, str):
        names = [names]
    unknown_options = sorted(set(options) - set(REWARD_OPTIONS))
    if unknown_options:
        raise ValueError(f"unknown reward option(s) {unknown_options}; known options: {list(REWARD_OPTIONS)}")
    partial_credit = options.get("choice_partial_credit", 0.2)
    iou_threshold = options.get("box_iou_threshold", 0.5)
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
        elif ":" in name:
            funcs.append(import_reward(name))
        else:
            raise ValueError(
                f"unknown reward {name!r}; known rewards: {list(REWARD_NAMES)} or 'module.path:function'"
            )
    return funcs
