"""Validation: each problem is reported as FILE:LINE: field: message, all of them at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from currvl.data import DataValidationError, Problem, make_sample, read_jsonl, validate_samples

GOOD = {"question": "What is it?", "answer": "nodule", "task": "text"}


def _write(tmp_path: Path, rows: list, name: str = "data.jsonl") -> Path:
    """Rows are dicts (dumped as JSON) or raw bytes lines; a good row comes first so bad ones are line 2+."""
    lines = [json.dumps(GOOD).encode()]
    lines += [r if isinstance(r, bytes) else json.dumps(r).encode() for r in rows]
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _error(path: Path) -> str:
    with pytest.raises(DataValidationError) as info:
        read_jsonl(path)
    return str(info.value)


def _assert_reported(message: str, path: Path, line: int, field: str) -> None:
    assert f"{path}:{line}: {field}:" in message, message


def test_missing_image(tmp_path: Path) -> None:
    path = _write(tmp_path, [{**GOOD, "image": "images/nope.png"}])
    message = _error(path)
    _assert_reported(message, path, 2, "image")
    assert "does not exist" in message and "nope.png" in message


def test_truncated_png(tmp_path: Path) -> None:
    full = tmp_path / "full.png"
    Image.effect_noise((96, 96), 60).convert("RGB").save(full)
    data = full.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    path = _write(tmp_path, [{**GOOD, "image": "full.png"}, {**GOOD, "image": "cut.png"}])
    message = _error(path)
    _assert_reported(message, path, 3, "image")
    assert "truncated" in message and ":2:" not in message


def test_empty_answer(tmp_path: Path) -> None:
    path = _write(tmp_path, [{**GOOD, "answer": "  "}])
    message = _error(path)
    _assert_reported(message, path, 2, "answer")
    assert "empty" in message


def test_unknown_task(tmp_path: Path) -> None:
    path = _write(tmp_path, [{**GOOD, "task": "caption"}])
    message = _error(path)
    _assert_reported(message, path, 2, "task")
    assert "'caption'" in message and "yes_no" in message


@pytest.mark.parametrize("answer", ["[1, 2, 3]", "[10, 5, 4, 20]", "[1, 2, 3, x]", "1, 2, 3, 4"])
def test_bad_box(tmp_path: Path, answer: str) -> None:
    path = _write(tmp_path, [{**GOOD, "task": "box", "answer": answer}])
    _assert_reported(_error(path), path, 2, "answer")


def test_good_box_passes() -> None:
    assert validate_samples([make_sample("Locate.", "[1, 2.5, 30, 40]", "box")]) == []


def test_choice_without_options(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [{**GOOD, "task": "choice", "answer": "A"}, {**GOOD, "task": "choice", "answer": "A", "options": []}],
    )
    message = _error(path)
    _assert_reported(message, path, 2, "options")
    _assert_reported(message, path, 3, "options")


def test_choice_letter_outside_options(tmp_path: Path) -> None:
    path = _write(tmp_path, [{**GOOD, "task": "choice", "answer": "A, C", "options": ["x", "y"]}])
    message = _error(path)
    _assert_reported(message, path, 2, "answer")
    assert "A, B" in message


def test_invalid_json_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [b'{"question": "a?", "answer": "b",'])
    message = _error(path)
    _assert_reported(message, path, 2, "json")
    assert "invalid JSON" in message


def test_non_utf8_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD, b'{"question": "caf\xe9?", "answer": "b", "task": "text"}'])
    message = _error(path)
    _assert_reported(message, path, 3, "encoding")
    assert "UTF-8" in message


def test_non_object_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [b'["question", "answer"]'])
    _assert_reported(_error(path), path, 2, "line")


def test_missing_field_wrong_type_yes_no_and_duplicate_id(tmp_path: Path) -> None:
    rows = [
        {"question": "q?", "task": "text"},
        {**GOOD, "answer": 7},
        {**GOOD, "options": "A. x"},
        {**GOOD, "task": "yes_no", "answer": "maybe"},
        {**GOOD, "id": "x"},
        {**GOOD, "id": "x"},
    ]
    path = _write(tmp_path, rows)
    message = _error(path)
    _assert_reported(message, path, 2, "answer")
    assert "missing required field" in message
    _assert_reported(message, path, 3, "answer")
    assert "must be a string, got int" in message
    _assert_reported(message, path, 4, "options")
    _assert_reported(message, path, 5, "answer")
    _assert_reported(message, path, 7, "id")
    assert "duplicate id 'x' (first at line 6)" in message


def test_all_problems_reported_and_message_truncated(tmp_path: Path) -> None:
    path = _write(tmp_path, [{**GOOD, "answer": ""} for _ in range(25)])
    with pytest.raises(DataValidationError) as info:
        read_jsonl(path)
    assert len(info.value.problems) == 25 and isinstance(info.value, ValueError)
    assert "25 data problems" in str(info.value) and "... and 5 more" in str(info.value)


def test_problem_str_and_memory_source() -> None:
    assert str(Problem("a.jsonl", 3, "answer", "must not be empty")) == "a.jsonl:3: answer: must not be empty"
    problems = validate_samples([make_sample("q?", "a", "text"), make_sample("q?", "", "text")])
    assert [str(p) for p in problems] == ["<memory>:2: answer: must not be empty"]


def test_check_images_can_be_skipped(tmp_path: Path) -> None:
    sample = make_sample("q?", "a", "text", image=str(tmp_path / "nope.png"))
    assert validate_samples([sample], check_images=False) == []
    assert [p.field for p in validate_samples([sample])] == ["image"]
