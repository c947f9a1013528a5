"""JSONL / Hugging Face I/O: round trips with images, refusing to overwrite, defaults and dispatch."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from currvl.data import (
    ALL_FIELDS,
    load_hf_dataset,
    load_source,
    make_sample,
    make_samples,
    read_jsonl,
    write_jsonl,
    write_synthetic,
)


def test_write_synthetic_round_trip(tmp_path: Path) -> None:
    paths = write_synthetic(tmp_path / "scan", "scan", n_train=6, n_test=4, seed=1)
    assert set(paths) == {"train", "test"}
    first_row = json.loads(paths["train"].read_text(encoding="utf-8").splitlines()[0])
    assert first_row["image"] == "images/scan-train-00000.png"
    for split, n in (("train", 6), ("test", 4)):
        original = make_samples("scan", split, n, seed=1)
        loaded = read_jsonl(paths[split])
        assert len(loaded) == n
        for a, b in zip(original, loaded, strict=True):
            assert {k: a[k] for k in ALL_FIELDS if k != "image"} == {
                k: b[k] for k in ALL_FIELDS if k != "image"
            }
            assert Path(b["image"]).is_absolute()
            with Image.open(b["image"]) as im:
                assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(a["image"]))


def test_general_round_trip_keeps_text_only_samples(tmp_path: Path) -> None:
    samples = make_samples("general", "train", 10)
    path = write_jsonl(samples, tmp_path / "g.jsonl")
    loaded = read_jsonl(path)
    assert [s["image"] is None for s in loaded] == [s["image"] is None for s in samples]
    assert sorted(p.name for p in (tmp_path / "images").iterdir())[0] == "general-train-00000.png"


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    write_jsonl([make_sample("q?", "a", "text")], path)
    with pytest.raises(FileExistsError, match="d.jsonl"):
        write_jsonl([make_sample("q2?", "b", "text")], path)
    assert read_jsonl(path)[0]["question"] == "q?"
    write_jsonl([make_sample("q2?", "b", "text")], path, overwrite=True)
    assert read_jsonl(path)[0]["question"] == "q2?"
    write_synthetic(tmp_path / "syn", "general", 2, 2)
    with pytest.raises(FileExistsError, match="train.jsonl"):
        write_synthetic(tmp_path / "syn", "general", 2, 2)


def test_read_fills_defaults_and_resolves_images(tmp_path: Path) -> None:
    Image.new("RGB", (28, 28), "red").save(tmp_path / "pic.png")
    (tmp_path / "sub").mkdir()
    rows = [
        {"question": "What color?", "answer": "red", "task": "text", "image": "pic.png", "extra": 1},
        {"question": "2+2?", "answer": "4", "task": "math", "id": "mine"},
    ]
    path = tmp_path / "sub" / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    first, second = read_jsonl(path, image_root=tmp_path)
    assert set(ALL_FIELDS) <= set(first)
    assert first["image"] == str(tmp_path / "pic.png")
    assert first["category"] == "text" and first["options"] is None and first["extra"] == 1
    assert first["id"] == "d-1" and second["id"] == "mine" and second["image"] is None


def test_skip_drops_bad_rows_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"question": "a?", "answer": "x", "task": "text"}\n{not json\n{"question": "b?", "answer": "", "task": "text"}\n',
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING):
        samples = read_jsonl(path, on_error="skip")
    assert [s["question"] for s in samples] == ["a?"]
    assert "skipped 2 of 3 rows" in caplog.text
    with pytest.raises(ValueError, match="on_error"):
        read_jsonl(path, on_error="ignore")


def test_load_hf_dataset_from_disk_with_column_map(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict(
        {
            "prompt": ["What color?", "What animal?"],
            "label": [0, 1],
            "picture": [Image.new("RGB", (28, 28), "red"), Image.new("RGB", (28, 28), "blue")],
            "task": ["text", "text"],
            "noise": [1, 2],
        },
        features=datasets.Features(
            {
                "prompt": datasets.Value("string"),
                "label": datasets.ClassLabel(names=["red", "cat"]),
                "picture": datasets.Image(),
                "task": datasets.Value("string"),
                "noise": datasets.Value("int32"),
            }
        ),
    )
    ds.save_to_disk(str(tmp_path / "hf"))
    column_map = {"prompt": "question", "label": "answer", "picture": "image"}
    samples = load_hf_dataset(tmp_path / "hf", column_map=column_map)
    assert [s["answer"] for s in samples] == ["red", "cat"]
    assert isinstance(samples[0]["image"], Image.Image) and "noise" not in samples[0]
    assert samples[0]["id"] == "hf-train-00000"
    assert load_source(str(tmp_path / "hf"), column_map=column_map)[1]["question"] == "What animal?"
    with pytest.raises(ValueError, match="not in the dataset"):
        load_hf_dataset(tmp_path / "hf", column_map={"nope": "question"})


def test_load_source_dispatch(tmp_path: Path) -> None:
    path = write_jsonl(make_samples("scan", "test", 3), tmp_path / "s.jsonl")
    assert [s["id"] for s in load_source(path)] == ["scan-test-00000", "scan-test-00001", "scan-test-00002"]
    write_synthetic(tmp_path / "syn", "general", 3, 2)
    assert [s["id"] for s in load_source(tmp_path / "syn", split="test")] == [
        "general-test-00000",
        "general-test-00001",
    ]
    synthetic = load_source("synthetic:general:5:2", split="test")
    assert [s["id"] for s in synthetic] == [f"general-test-{i:05d}" for i in range(5)]
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        load_source(tmp_path / "missing.jsonl")
