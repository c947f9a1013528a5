"""The command line: data utilities, validation exit codes, eval output, error reporting."""

import json

from currvl.cli.main import main


def test_make_synthetic_then_validate(tmp_path, capsys):
    out = tmp_path / "scan"
    assert (
        main(
            [
                "data",
                "make-synthetic",
                "--world",
                "scan",
                "--out",
                str(out),
                "--n-train",
                "6",
                "--n-test",
                "4",
            ]
        )
        == 0
    )
    assert main(["data", "validate", str(out / "train.jsonl")]) == 0
    assert "6 samples, no problems" in capsys.readouterr().out


def test_validate_reports_file_line_field_and_fails(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"question": "q", "answer": "a", "task": "text"})
        + "\n"
        + json.dumps({"question": "q", "answer": "", "task": "text"})
        + "\n"
    )
    assert main(["data", "validate", str(bad)]) == 1
    assert f"{bad}:2: answer:" in capsys.readouterr().out


def test_train_with_bad_recipe_exits_2(tmp_path, capsys):
    p = tmp_path / "r.yaml"
    p.write_text("method: grpo\nmodel:\n  name_or_path: m\ndata:\n  train: d.jsonl\nrewardz: [format]\n")
    assert main(["train", str(p)]) == 2
    assert "rewardz" in capsys.readouterr().err


def test_eval_writes_per_category_json(tiny_model_dir, tmp_path):
    out = tmp_path / "scores.json"
    rc = main(
        [
            "eval",
            "--model",
            str(tiny_model_dir),
            "--data",
            "synthetic:general:10",
            "--out",
            str(out),
            "--max-new-tokens",
            "4",
        ]
    )
    assert rc == 0
    result = json.loads(out.read_text())
    assert set(result["tasks"]) == {"color", "shape", "count", "position", "arithmetic"}
    assert result["n"] == 10 and len(result["records"]) == 10
    for t in result["tasks"].values():
        assert 0.0 <= t["ci95"][0] <= t["score"] <= t["ci95"][1] <= 1.0


def test_self_improve_writes_kept_set_and_stats(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "si"
    args = [
        "self-improve",
        "--model",
        str(tiny_model_dir),
        "--data",
        "synthetic:general:4",
        "--out",
        str(out),
    ]
    assert main([*args, "--num-samples", "2", "--max-new-tokens", "4"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["queries"] == 4 and stats["answers"] == 8
    # a random model never answers in format, so rule scoring keeps nothing
    assert stats["kept"] == 0 and (out / "kept.jsonl").read_text() == ""
    assert main(args) == 2  # refuses to overwrite the kept set
    assert "exists" in capsys.readouterr().err
