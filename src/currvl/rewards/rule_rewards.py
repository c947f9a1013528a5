"""Rule rewards in TRL's signature, ``f(prompts, completions, **columns) -> list[float | None]``.

TRL passes every dataset column as a keyword list (``answer``, ``task``, ...) plus its own extras
(``completion_ids``, ``trainer_state``, ``log_extra``, ``log_metric``), which are ignored here. A row
whose ``answer`` is None gets reward None, which TRL turns into NaN and leaves out of the group
statistics. Rewards with options are small callable objects (picklable, unlike closures) whose
``__name__`` is the name TRL logs them under; the module-level instances carry the defaults.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from currvl.rewards.parsing import completion_text, extract_answer
from currvl.rewards.scoring import (
    DEFAULT_BOX_IOU_THRESHOLD,
    DEFAULT_CHOICE_PARTIAL_CREDIT,
    check_fraction,
    parse_box,
    parse_choice_letters,
    parse_yes_no,
    score_answer,
    score_choice,
    score_yes_no,
)

_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


def column(kwargs: dict[str, Any], name: str, n: int, reward: str) -> list[Any]:
    """A dataset column from TRL's kwargs, checked to have one value per completion."""
    if name not in kwargs or kwargs[name] is None:
        raise ValueError(
            f"the {reward!r} reward needs the dataset column {name!r}; got columns {sorted(kwargs)}"
        )
    values = list(kwargs[name])
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return values


def answers_of(completions: Sequence[Any]) -> list[str | None]:
    """The <answer> content of each completion (None without one)."""
    return [extract_answer(completion_text(c)) for c in completions]


def format_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 when the whole completion is ``<think>...</think> <answer>...</answer>`` and nothing else.

    Rows whose ``task`` is "box" must also put a parseable [x1, y1, x2, y2] box in the answer. Only
    box rows: the Curr-ReFT release also demanded a box from yes/no and choice detection items, which
    no correct answer to those questions contains. Without a ``task`` column only the tags are checked.
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


class AccuracyReward:
    """Scores each completion's <answer> against the row's ``answer`` by the rule of its ``task``;
    logged as "accuracy". A missing ``answer`` or ``task`` column, or an unknown task, raises
    ValueError: those are data bugs, not model output."""

    __name__ = "accuracy"

    def __init__(
        self,
        choice_partial_credit: float = DEFAULT_CHOICE_PARTIAL_CREDIT,
        box_iou_threshold: float = DEFAULT_BOX_IOU_THRESHOLD,
    ) -> None:
        self.choice_partial_credit = check_fraction("choice_partial_credit", choice_partial_credit)
        self.box_iou_threshold = check_fraction("box_iou_threshold", box_iou_threshold)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        n = len(completions)
        references = column(kwargs, "answer", n, self.__name__)
        tasks = column(kwargs, "task", n, self.__name__)
        return [
            None
            if reference is None
            else score_answer(
                predicted,
                str(reference),
                task,
                choice_partial_credit=self.choice_partial_credit,
                box_iou_threshold=self.box_iou_threshold,
            )
            for predicted, reference, task in zip(answers_of(completions), references, tasks, strict=True)
        ]

    def __repr__(self) -> str:
        return (
            f"<reward accuracy choice_partial_credit={self.choice_partial_credit} "
            f"box_iou_threshold={self.box_iou_threshold}>"
        )


class ChoiceReward:
    """Option-letter reward for every row, whatever its ``task`` (1 / partial credit / 0); logged as
    "choice". Rows whose reference holds no option letter get None (the rule does not apply)."""

    __name__ = "choice"

    def __init__(self, partial_credit: float = DEFAULT_CHOICE_PARTIAL_CREDIT) -> None:
        self.partial_credit = check_fraction("partial_credit", partial_credit)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        references = column(kwargs, "answer", len(completions), self.__name__)
        return [
            None
            if reference is None or not parse_choice_letters(str(reference))
            else score_choice(predicted, str(reference), partial_credit=self.partial_credit)
            for predicted, reference in zip(answers_of(completions), references, strict=True)
        ]

    def __repr__(self) -> str:
        return f"<reward choice partial_credit={self.partial_credit}>"


accuracy_reward = AccuracyReward()
"""`AccuracyReward` with the default options."""
choice_reward = ChoiceReward()
"""`ChoiceReward` with the default partial credit."""


def yes_no_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """Yes/no reward for every row, whatever its ``task`` (the Curr-ReFT Stage-1 rule, ambiguity = 0).

    Rows whose reference is neither yes nor no get None (not scorable by this rule).
    """
    references = column(kwargs, "answer", len(completions), "yes_no")
    return [
        None
        if reference is None or parse_yes_no(str(reference)) is None
        else score_yes_no(predicted, str(reference))
        for predicted, reference in zip(answers_of(completions), references, strict=True)
    ]
