"""The command line: data utilities, validation exit codes, eval output, error reporting."""

import json

import pytest

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


@pytest.mark.parametrize("fmt", ["judge", "choice"])
def test_eval_asks_the_questions_in_the_chosen_form(tiny_model_dir, tmp_path, fmt):
    out = tmp_path / "scores.json"
    args = ["eval", "--model", str(tiny_model_dir), "--data", "synthetic:scan_qa:8", "--format", fmt]
    assert main([*args, "--out", str(out), "--max-new-tokens", "2"]) == 0
    records = json.loads(out.read_text())["records"]
    answers = [r["answer"] for r in records]
    if fmt == "judge":  # balanced: half the candidates are true
        assert sorted(answers) == ["no"] * 4 + ["yes"] * 4
    else:
        assert all(a in "ABCD" and len(a) == 1 for a in answers)
    assert {r["task"] for r in records} == {"yes_no" if fmt == "judge" else "choice"}


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


def test_eval_refuses_to_overwrite_a_score_file(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "scores.json"
    out.write_text("{}")
    args = ["eval", "--model", str(tiny_model_dir), "--data", "synthetic:general:2", "--out", str(out)]
    assert main(args) == 2  # refused before loading the model
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "{}"


def test_eval_base_vs_tuned_writes_forgetting_report(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "report"
    args = [
        "eval",
        "--base",
        str(tiny_model_dir),
        "--model",
        str(tiny_model_dir),
        "--domain",
        "synthetic:scan",
        "--general-n",
        "5",
        "--domain-n",
        "2",
        "--max-new-tokens",
        "4",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "forgetting report" in printed and "arithmetic" in printed
    report = json.loads((out / "forgetting.json").read_text())
    assert set(report["general_categories"]) == {"color", "shape", "count", "position", "arithmetic"}
    assert set(report["domain_categories"]) == {"finding", "finding_box"}
    assert report["general"]["n_before"] == 5 and report["domain"]["n_after"] == 2
    # the same model twice: greedy decoding gives the same scores, so nothing is gained or lost
    assert report["summary"]["general_delta"] == 0.0 and report["summary"]["domain_delta"] == 0.0
    assert report["summary"]["general_delta_ci95"] == [0.0, 0.0]  # paired: the same items, same scores
    assert report["kl"]["sequences"] == 5 and abs(report["summary"]["kl_base_tuned"]) < 1e-6
    assert "KL(base || tuned)" in printed
    assert report["meta"]["domain_source"] == "synthetic:scan" and report["meta"]["general_n"] == 5
    assert (out / "forgetting.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "forgetting.md").read_text().startswith("# forgetting report")
    evaluations = json.loads((out / "evaluations.json").read_text())
    assert len(evaluations["base"]["general"]["records"]) == 5
    before = (out / "forgetting.json").read_text()
    assert main(args) == 2  # never overwrites a report without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "forgetting.json").read_text() == before


def _fake_lmms_eval(calls):
    """Stands in for `python -m lmms_eval`: copies a recorded results file where lmms-eval writes it."""
    from pathlib import Path

    from currvl.evaluation import lmms_eval as le

    recorded = Path(__file__).parents[1] / "evaluation" / "data" / "lmms_eval_tuned_results.json"

    def run(argv, check=False):
        calls.append(argv)
        pretrained = argv[argv.index("--model_args") + 1].removeprefix("pretrained=")
        folder = Path(argv[argv.index("--output_path") + 1]) / le.sanitize_model_name(pretrained)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "20250612_121002_results.json").write_text(recorded.read_text())
        return type("Done", (), {"returncode": 0})()

    return run


def test_eval_lmms_harness_feeds_the_forgetting_report(tmp_path, monkeypatch, capsys):
    import subprocess
    from pathlib import Path

    from currvl.evaluation import lmms_eval as le

    calls: list = []
    monkeypatch.setattr(le, "lmms_eval_available", lambda: True)
    monkeypatch.setattr(subprocess, "run", _fake_lmms_eval(calls))
    base = Path(__file__).parents[1] / "evaluation" / "data" / "lmms_eval_base_results.json"
    ckpt = tmp_path / "currreft" / "final"
    ckpt.mkdir(parents=True)
    out = tmp_path / "lmms"
    rc = main(
        [
            "eval",
            "--harness",
            "lmms-eval",
            "--tasks",
            "mmbench_en_dev,mme",
            "--model",
            str(ckpt),
            "--base",
            str(base),  # saved base results are reused, not rerun
            "--batch-size",
            "4",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    assert len(calls) == 1
    assert calls[0][1:] == [
        "-m",
        "lmms_eval",
        "--model",
        "qwen2_5_vl",
        "--model_args",
        f"pretrained={ckpt.resolve()}",
        "--tasks",
        "mmbench_en_dev,mme",
        "--batch_size",
        "4",
        "--output_path",
        str(out / "lmms-eval" / "tuned"),
    ]
    report = json.loads((out / "forgetting.json").read_text())
    assert set(report["general_categories"]) == {"mmbench_en_dev", "mme"}
    assert report["general_categories"]["mmbench_en_dev"]["before"] == pytest.approx(0.762)
    assert report["meta"]["harness"] == "lmms-eval" and report["domain"] is None
    assert "mmbench_en_dev" in capsys.readouterr().out


def test_eval_lmms_harness_without_lmms_eval_says_pip_install(tmp_path, monkeypatch, capsys):
    from currvl.evaluation import lmms_eval as le

    monkeypatch.setattr(le, "lmms_eval_available", lambda: False)
    args = ["eval", "--harness", "lmms-eval", "--tasks", "mme", "--model", "m", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "pip install lmms-eval" in capsys.readouterr().err


def test_eval_lmms_harness_with_our_domain_set(tiny_model_dir, tmp_path, monkeypatch):
    import subprocess

    from currvl.evaluation import lmms_eval as le

    calls: list = []
    monkeypatch.setattr(le, "lmms_eval_available", lambda: True)
    monkeypatch.setattr(subprocess, "run", _fake_lmms_eval(calls))
    out = tmp_path / "lmms"
    args = ["eval", "--harness", "lmms-eval", "--tasks", "mme", "--base", str(tiny_model_dir)]
    args += ["--model", str(tiny_model_dir), "--domain", "synthetic:scan", "--domain-n", "2"]
    assert main([*args, "--max-new-tokens", "4", "--out", str(out)]) == 0
    assert len(calls) == 2  # lmms-eval for base and tuned; the domain set by our evaluator
    report = json.loads((out / "forgetting.json").read_text())
    assert list(report["general_categories"]) == ["mme"]
    assert report["domain"]["n_before"] == 2 and report["meta"]["domain_source"] == "synthetic:scan"


def test_eval_lmms_harness_refuses_a_bad_domain_before_running_lmms_eval(
    tiny_model_dir, tmp_path, monkeypatch, capsys
):
    import subprocess

    from currvl.evaluation import lmms_eval as le

    calls: list = []
    monkeypatch.setattr(le, "lmms_eval_available", lambda: True)
    monkeypatch.setattr(subprocess, "run", _fake_lmms_eval(calls))
    args = ["eval", "--harness", "lmms-eval", "--tasks", "mme", "--base", str(tiny_model_dir)]
    args += ["--model", str(tiny_model_dir), "--domain", "synthetic:scan", "--domain-n", "0"]
    assert main([*args, "--out", str(tmp_path / "lmms")]) == 2
    assert "needs at least 1 sample" in capsys.readouterr().err
    assert calls == []  # neither lmms-eval run started


def test_a_forgetting_report_without_sizes_measures_the_full_probes(tmp_path, monkeypatch):
    """`currvl eval --base B --model M --domain D` with no sizes evaluates both models on 1,000
    general items and 500 domain items (what a 0.05 drop needs to show in the paired interval)."""
    import importlib

    evaluate = importlib.import_module("currvl.evaluation.evaluate")  # the module, not the function
    seen = []

    def fake_evaluate_model(path, sets, **kwargs):
        seen.append({name: len(items) for name, items in sets.items()})
        return {
            name: {"score": 1.0, "n": len(items), "tasks": {}, "records": []} for name, items in sets.items()
        }

    monkeypatch.setattr(evaluate, "evaluate_model", fake_evaluate_model)
    monkeypatch.setattr("currvl.evaluation.forgetting.forgetting_report", lambda *a, **k: {"meta": {}})
    monkeypatch.setattr("currvl.experiments.eval_jobs._finish_report", lambda *a, **k: 0)
    args = ["eval", "--base", "b", "--model", "m", "--domain", "synthetic:scan", "--no-kl"]
    assert main([*args, "--out", str(tmp_path / "r")]) == 0
    assert seen == [{"general": 1000, "domain": 500}] * 2


def test_a_missing_model_folder_is_named_not_looked_up_on_the_hub(tmp_path, capsys):
    missing = tmp_path / "runs" / "sft" / "final"
    assert main(["eval", "--model", str(missing), "--data", "synthetic:general:2"]) == 2
    assert f"no model folder at {missing}" in capsys.readouterr().err


def test_make_synthetic_refuses_an_unknown_world_before_writing_and_overwrites_on_request(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["data", "make-synthetic", "--world", "nope", "--out", str(out)]) == 2
    assert "unknown synthetic world 'nope'; expected one of general, scan" in capsys.readouterr().err
    assert not out.exists()
    args = ["data", "make-synthetic", "--out", str(out), "--n-train", "3", "--n-test", "2"]
    assert main(args) == 0
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    with pytest.raises(SystemExit):
        main(["data", "make-synthetic", "--out", str(out), "--n-train", "-3"])


def test_validate_a_folder_checks_each_jsonl_file(tmp_path, capsys):
    main(["data", "make-synthetic", "--out", str(tmp_path / "d"), "--n-train", "3", "--n-test", "2"])
    capsys.readouterr()
    assert main(["data", "validate", str(tmp_path / "d")]) == 0
    printed = capsys.readouterr().out
    assert "train.jsonl: 3 samples" in printed and "test.jsonl: 2 samples" in printed
    (tmp_path / "d" / "bad.jsonl").write_text('{"question": "q", "answer": "", "task": "text"}\n')
    assert main(["data", "validate", str(tmp_path / "d")]) == 1
    assert main(["data", "validate", str(tmp_path / "nothing-here")]) == 2


def test_a_malformed_set_is_a_one_line_error(tmp_path, capsys):
    assert main(["train", str(tmp_path / "r.yaml"), "--set", "trainer.max_steps"]) == 2
    assert capsys.readouterr().err.startswith("error: --set expects KEY=VALUE")


def test_ctrl_c_in_a_compare_says_to_rerun_it_not_to_pass_resume(tmp_path, monkeypatch, capsys):
    from currvl.training.reliability import TrainingInterrupted

    def interrupted(*args, **kwargs):
        raise TrainingInterrupted(tmp_path / "runs" / "GRPO-seed0", 7, None)

    monkeypatch.setattr("currvl.experiments.compare.run.run_compare_file", interrupted)
    assert main(["compare", str(tmp_path / "c.yaml")]) == 130
    err = capsys.readouterr().err
    assert "stopped at step 7" in err and "Rerun the same command" in err and "--resume" not in err
