"""Checks that a dataset matches the sample schema, reported as FILE:LINE: field: problem.

Bad data otherwise surfaces hours into training as a crash in a collator or as silently zero
rewards; validating up front names every bad row at once so it can be fixed in one pass.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile

from .schema import OPTION_LETTERS, REQUIRED_FIELDS, TASK_TYPES

logger = logging.getLogger(__name__)

MAX_LISTED_PROBLEMS = 20
ON_ERROR_CHOICES: tuple[str, ...] = ("fail", "skip")

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_BOX_RE = re.compile(r"^\s*\[(.*)\]\s*$", re.DOTALL)
_NUMBER_RE = re.compile(rf"^\s*{_NUMBER}\s*$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one row; ``line`` is the 1-based line (or position) in ``file``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}"


class DataValidationError(ValueError):
    """Raised when data has problems; ``problems`` holds all of them, the message lists the first few."""

    def __init__(self, problems: Sequence[Problem], max_listed: int = MAX_LISTED_PROBLEMS) -> None:
        self.problems: list[Problem] = list(problems)
        n = len(self.problems)
        lines = [str(p) for p in self.problems[:max_listed]]
        if n > max_listed:
            lines.append(f"... and {n - max_listed} more")
        super().__init__(f"{n} data problem{'s' if n != 1 else ''}:\n" + "\n".join(lines))


def _type_name(value: Any) -> str:
    return type(value).__name__


def _check_image_file(path: str) -> str | None:
    """None if the file is a complete, decodable image, else why not.

    ``verify()`` catches corrupt headers and chunk CRCs but not every truncation, so the file is
    reopened and fully decoded too (``verify`` leaves the image unusable).
    """
    if not os.path.exists(path):
        return f"image file does not exist: {path}"
    if not os.path.isfile(path):
        return f"image path is not a file: {path}"
    # Training code often sets LOAD_TRUNCATED_IMAGES, which would make load() pad instead of fail.
    tolerant, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.load()
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... on bad files
        return f"image file is unreadable or truncated: {path} ({type(exc).__name__}: {exc})"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = tolerant
    return None


def _check_image(
    image: Any, image_root: Path | None, cache: dict[str, str | None], check_files: bool
) -> str | None:
    """Problem text for the ``image`` field, or None: None, a PIL image or a readable file path."""
    if image is None or isinstance(image, Image.Image):
        return None
    if isinstance(image, dict) and ("bytes" in image or "path" in image):  # datasets Image(decode=False)
        if image.get("bytes"):
            return None
        image = image.get("path")
        if image is None:
            return "image dict has neither bytes nor path"
    if not isinstance(image, (str, os.PathLike)):
        return f"must be a path string, a PIL image or null, got {_type_name(image)}"
    path = Path(image)
    if not path.is_absolute() and image_root is not None:
        path = image_root / path
    key = str(path)
    if not check_files:
        return None
    if key not in cache:
        cache[key] = _check_image_file(key)
    return cache[key]


def _check_box(answer: str) -> str | None:
    match = _BOX_RE.match(answer)
    parts = match.group(1).split(",") if match else []
    if not match or len(parts) != 4 or not all(_NUMBER_RE.match(p) for p in parts):
        return f"box answer must be exactly 4 numbers '[x1, y1, x2, y2]', got {answer!r}"
    x1, y1, x2, y2 = (float(p) for p in parts)
    if x2 <= x1 or y2 <= y1:
        return f"box answer needs x2 > x1 and y2 > y1, got {answer!r}"
    if min(x1, y1) < 0:
        return f"box answer has negative pixel coordinates: {answer!r}"
    return None


def _check_choice(answer: str, options: Any) -> tuple[str, str] | None:
    """(field, message) for a choice item's options/answer, or None."""
    if not options:
        return "options", "choice item needs a non-empty list of options"
    if len(options) > len(OPTION_LETTERS):
        return "options", f"at most {len(OPTION_LETTERS)} options are supported, got {len(options)}"
    valid = OPTION_LETTERS[: len(options)]
    letters = [part.strip() for part in answer.split(",")]
    bad = [letter for letter in letters if len(letter) != 1 or letter.upper() not in valid]
    if bad:
        return "answer", f"choice answer {answer!r} must be option letters among {', '.join(valid)}"
    return None


def _check_sample(
    sample: Any, image_root: Path | None, cache: dict[str, str | None], check_images: bool
) -> list[tuple[str, str]]:
    """(field, message) pairs for one sample; duplicates are checked across samples by the caller."""
    if not isinstance(sample, dict):
        return [("sample", f"must be a dict, got {_type_name(sample)}")]
    out: list[tuple[str, str]] = []
    for name in REQUIRED_FIELDS:
        if name not in sample or sample[name] is None:
            out.append((name, "missing required field"))
    for name in ("question", "answer"):
        value = sample.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            out.append((name, f"must be a string, got {_type_name(value)} {value!r}"))
        elif not value.strip():
            out.append((name, "must not be empty"))
    task = sample.get("task")
    if task is not None:
        if not isinstance(task, str):
            out.append(("task", f"must be a string, got {_type_name(task)}"))
            task = None
        elif task not in TASK_TYPES:
            out.append(("task", f"unknown task {task!r}; valid tasks: {', '.join(TASK_TYPES)}"))
            task = None
    for name in ("id", "category"):
        if sample.get(name) is not None and not isinstance(sample[name], str):
            out.append((name, f"must be a string, got {_type_name(sample[name])}"))
    rationale = sample.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        out.append(("rationale", f"must be a string or null, got {_type_name(rationale)}"))
    options = sample.get("options")
    options_ok = options is None or (isinstance(options, list) and all(isinstance(o, str) for o in options))
    if not options_ok:
        out.append(("options", "must be a list of strings or null"))
    elif options is not None and any(not o.strip() for o in options):
        out.append(("options", "must not contain empty option texts"))
        options_ok = False
    if "image" in sample:
        message = _check_image(sample["image"], image_root, cache, check_images)
        if message:
            out.append(("image", message))
    answer = sample.get("answer")
    if task is not None and isinstance(answer, str) and answer.strip():
        if task == "box":
            message = _check_box(answer)
            if message:
                out.append(("answer", message))
        elif task == "yes_no" and answer.strip().lower() not in ("yes", "no"):
            out.append(("answer", f"yes_no answer must be 'yes' or 'no', got {answer!r}"))
        elif task == "choice" and options_ok:
            found = _check_choice(answer, options)
            if found:
                out.append(found)
    return out


def validate_samples(
    samples: Sequence[Any],
    source: str = "<memory>",
    line_numbers: Sequence[int] | None = None,
    check_images: bool = True,
    *,
    image_root: str | Path | None = None,
) -> list[Problem]:
    """Every schema problem in ``samples``; rows are named by ``line_numbers`` (default: 1-based position).

    ``check_images`` opens and fully decodes each referenced image file once (cached by path);
    relative paths are taken against ``image_root`` (default: the working directory).
    """
    if line_numbers is not None and len(line_numbers) != len(samples):
        raise ValueError(f"got {len(line_numbers)} line numbers for {len(samples)} samples")
    lines = list(line_numbers) if line_numbers is not None else list(range(1, len(samples) + 1))
    root = Path(image_root) if image_root is not None else None
    cache: dict[str, str | None] = {}
    seen_ids: dict[str, int] = {}
    problems: list[Problem] = []
    for sample, line in zip(samples, lines, strict=True):
        for name, message in _check_sample(sample, root, cache, check_images):
            problems.append(Problem(source, line, name, message))
        sample_id = sample.get("id") if isinstance(sample, dict) else None
        if isinstance(sample_id, str) and sample_id:
            if sample_id in seen_ids:
                problems.append(
                    Problem(
                        source,
                        line,
                        "id",
                        f"duplicate id {sample_id!r} (first at line {seen_ids[sample_id]})",
                    )
                )
            else:
                seen_ids[sample_id] = line
    return problems


def check_on_error(on_error: str) -> None:
    """Reject an unknown ``on_error`` policy before any work is done."""
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR_CHOICES)}, got {on_error!r}")


def apply_on_error(
    samples: list[dict[str, Any]],
    lines: Sequence[int],
    problems: Iterable[Problem],
    on_error: str,
    source: str,
    total_rows: int | None = None,
) -> list[dict[str, Any]]:
    """Raise on problems (``"fail"``) or drop the rows they name and log how many (``"skip"``)."""
    check_on_error(on_error)
    problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
    if not problems:
        return samples
    if on_error == "fail":
        raise DataValidationError(problems)
    bad = {p.line for p in problems}
    kept = [s for s, line in zip(samples, lines, strict=True) if line not in bad]
    total = total_rows if total_rows is not None else len(samples)
    logger.warning(
        "%s: skipped %d of %d rows with %d problem(s); first: %s",
        source, total - len(kept), total, len(problems), problems[0],
    )  # fmt: skip
    return kept
