"""The one sample schema every currvl dataset, loader, reward and trainer agrees on.

A sample is a plain dict (so it flows through `datasets.Dataset` and TRL unchanged) with these keys:

- ``id``        str, unique within a dataset.
- ``image``     path (str, relative to an image root or absolute), a PIL image, or None for text-only.
- ``question``  str, non-empty: the user's question, without the answer-format instruction.
- ``answer``    str, non-empty: the reference answer, in the form its ``task`` scores:
                 ``text``   a short label ("red", "nodule"), compared after normalisation;
                 ``math``   a number or LaTeX expression, compared numerically / with math-verify;
                 ``box``    "[x1, y1, x2, y2]" in pixels of the image, scored by IoU > 0.5;
                 ``labels`` comma-separated label set ("cat, dog"), scored by Jaccard index;
                 ``yes_no`` "yes" or "no";
                 ``choice`` option letter(s) "A" or "A, C", with ``options`` holding the texts.
- ``task``      one of TASK_TYPES (``currvl.rewards.scoring``): how the answer is scored.
- ``category``  str: the skill or sub-task ("color", "count", "finding"), used for per-task metrics.
- ``options``   list[str] or None: option texts for ``choice`` items (letter A is options[0]).
- ``rationale`` str or None: a short reasoning text, used as the <think> part of SFT targets.
"""

from __future__ import annotations

from typing import Any

# The scorers define the task types and option letters; the schema re-exports them.
from currvl.rewards.scoring import OPTION_LETTERS as OPTION_LETTERS
from currvl.rewards.scoring import TASK_TYPES as TASK_TYPES

REQUIRED_FIELDS: tuple[str, ...] = ("question", "answer", "task")
OPTIONAL_FIELDS: tuple[str, ...] = ("id", "image", "category", "options", "rationale")
ALL_FIELDS: tuple[str, ...] = (
    "id",
    "image",
    "question",
    "answer",
    "task",
    "category",
    "options",
    "rationale",
)


def make_sample(
    question: str,
    answer: str,
    task: str,
    *,
    image: Any = None,
    category: str = "",
    options: list[str] | None = None,
    rationale: str | None = None,
    id: str = "",
) -> dict[str, Any]:
    """Build a sample dict with every schema key present (missing optional keys become None/"")."""
    return {
        "id": id,
        "image": image,
        "question": question,
        "answer": answer,
        "task": task,
        "category": category or task,
        "options": options,
        "rationale": rationale,
    }


def format_box(box: list[float] | tuple[float, ...]) -> str:
    """Canonical text form of a box answer: "[x1, y1, x2, y2]" with integers where exact."""
    parts = [str(int(v)) if float(v).is_integer() else f"{float(v):.1f}" for v in box]
    return "[" + ", ".join(parts) + "]"


def format_options(options: list[str]) -> str:
    """Render options as the lines "A. text" appended to a choice question."""
    return "\n".join(f"{OPTION_LETTERS[i]}. {text}" for i, text in enumerate(options))
