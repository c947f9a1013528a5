"""lmms-eval adapter: the exact command line, and parsing of recorded results files.

lmms-eval is not installed here and nothing is downloaded: the results files under data/ are
recorded in lmms-eval's own layout (see data/README.md for where each field comes from), and the
subprocess is replaced by a fake that writes such a file where lmms-eval would.
"""

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from currvl.evaluation import forgetting_report
from currvl.evaluation import lmms_eval as le

DATA = Path(__file__).parent / "data"
BASE_FILE = DATA / "lmms_eval_base_results.json"
TUNED_FILE = DATA / "lmms_eval_tuned_results.json"


def test_build_command_exact_argv(tmp_path):
    ckpt = tmp_path / "runs" / "final"
    ckpt.mkdir(parents=True)
    argv = le.build_command(ckpt, "mmbench_en_dev, mme", tmp_path / "out", batch_size=8, python="python")
    assert argv == [
        "python",
        "-m",
        "lmms_eval",
        "--model",
        "qwen2_5_vl",
        "--model_args",
        f"pretrained={ckpt.resolve()}",
        "--tasks",
        "mmbench_en_dev,mme",
        "--batch_size",
        "8",
        "--output_path",
        str(tmp_path / "out"),
    ]
    hub = le.build_command(
        "Qwen/Qwen2.5-VL-3B-Instruct",
        ["mme"],
        "o",
        model_args="max_pixels=1003520,attn_implementation=sdpa",
        limit=8,
        log_samples=True,
        python="py",
    )
    assert hub[hub.index("--model_args") + 1] == (
        "pretrained=Qwen/Qwen2.5-VL-3B-Instruct,max_pixels=1003520,attn_implementation=sdpa"
    )
    assert hub[-3:] == ["--limit", "8", "--log_samples"]
    assert hub[hub.index("--batch_size") + 1] == "1"


def test_build_command_rejects_what_lmms_eval_cannot_parse():
    with pytest.raises(ValueError, match="comma"):
        le.build_command("/ckpt/a,b", "mme", "o")
    with pytest.raises(ValueError, match="tasks"):
        le.build_command("m", " , ", "o")


def test_sanitize_model_name_matches_lmms_eval():
    assert le.sanitize_model_name("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen__Qwen2.5-VL-3B-Instruct"
    assert le.sanitize_model_name("/ckpt/runs/currreft/final") == "currreft__final"
    assert le.sanitize_model_name("final") == "final"


def test_parse_recorded_results_file():
    result = le.parse_results(BASE_FILE)
    mme, mmb = result["tasks"]["mme"], result["tasks"]["mmbench_en_dev"]
    assert mme["score"] == pytest.approx((1523.4 + 612.5) / 2800)
    assert mme["raw"] == {"mme_cognition_score": 612.5, "mme_percetion_score": 1523.4}
    assert mme["n"] == 2374 and mme["ci95"] is None and "MME" in mme["metric"]
    assert mmb["score"] == pytest.approx(0.762) and mmb["n"] == 4329
    assert mmb["metric"] == "gpt_eval_score / 100"
    assert result["score"] == pytest.approx((mme["score"] + mmb["score"]) / 2)
    assert result["n"] == 2374 + 4329
    assert result["harness"] == "lmms-eval" and result["source"] == str(BASE_FILE)
    assert result["model_args"] == "pretrained=Qwen/Qwen2.5-VL-3B-Instruct"
    assert list(le.parse_results(BASE_FILE, "mme")["tasks"]) == ["mme"]
    assert list(le.parse_results(BASE_FILE, "mmbench_*")["tasks"]) == ["mmbench_en_dev"]
    with pytest.raises(le.LmmsEvalError, match="pope"):
        le.parse_results(BASE_FILE, "mme,pope")


def test_task_score_spellings_partial_mme_and_generic_metrics():
    new = le.task_score("mme", {"mme_perception_score,none": 1400.0, "mme_cognition_score,none": 400.0})
    assert new["score"] == pytest.approx(1800 / 2800)
    lone = le.task_score("mme", {"mme_cognition_score,none": 400.0, "mme_cognition_score_stderr,none": "N/A"})
    assert lone["score"] == pytest.approx(0.5) and "cognition" in lone["metric"]
    pope = le.task_score(
        "pope", {"alias": "pope", "pope_accuracy,none": 0.86, "pope_accuracy_stderr,none": 0.01}
    )
    assert pope["score"] == 0.86 and pope["ci95"] == pytest.approx([0.86 - 0.0196, 0.86 + 0.0196])
    frac = le.task_score("new_task", {"foo_score,none": 0.4})
    assert frac["score"] == 0.4 and frac["normalized"]
    pct = le.task_score("new_task", {"foo_score,none": 40.0})
    assert pct["score"] == 0.4 and pct["metric"] == "foo_score / 100"
    raw = le.task_score("new_task", {"foo_score,none": 400.0})
    assert raw["score"] == 400.0 and raw["normalized"] is False
    lower = le.task_score("t", {"wer,none": 0.3, "bleu,none": 0.5}, {"wer": False, "bleu": True})
    assert lower["metric"] == "bleu"
    with pytest.raises(le.LmmsEvalError):
        le.task_score("t", {"alias": "t", "submission,none": None})


def test_group_subtasks_are_not_counted_twice():
    data = json.loads(BASE_FILE.read_text())
    data["results"]["mmbench"] = {"alias": "mmbench", "gpt_eval_score,none": 70.0}
    data["group_subtasks"] = {"mmbench": ["mmbench_en_dev"], "mme": []}
    assert set(le.parse_results(data)["tasks"]) == {"mmbench", "mme"}


def test_parsed_results_feed_the_forgetting_report():
    base, tuned = le.parse_results(BASE_FILE), le.parse_results(TUNED_FILE)
    report = forgetting_report({"general": base}, {"general": tuned})
    assert set(report["general_categories"]) == {"mmbench_en_dev", "mme"}
    assert report["general_categories"]["mmbench_en_dev"]["delta"] == pytest.approx(0.714 - 0.762)
    assert report["summary"]["retention"] == pytest.approx(tuned["score"] / base["score"])
    assert report["general"]["significant"] is None  # lmms-eval gives no interval for these


def _fake_lmms_eval(calls: list, source: Path = TUNED_FILE):
    """Stands in for `python -m lmms_eval`: writes a results file where lmms-eval would."""

    def run(argv, check=False):
        calls.append(argv)
        pretrained = argv[argv.index("--model_args") + 1].split(",")[0].removeprefix("pretrained=")
        folder = Path(argv[argv.index("--output_path") + 1]) / le.sanitize_model_name(pretrained)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, folder / time.strftime("%Y%m%d_%H%M%S_results.json"))
        return type("Done", (), {"returncode": 0})()

    return run


def test_run_lmms_eval_finds_the_new_results_file(tmp_path, monkeypatch):
    monkeypatch.setattr(le, "lmms_eval_available", lambda: True)
    old = tmp_path / "out" / "zzz__old" / "20200101_000000_results.json"
    old.parent.mkdir(parents=True)
    old.write_text(BASE_FILE.read_text())
    os.utime(old, (0, 0))  # left by an earlier run: never picked up as this run's result
    calls: list = []
    path = le.run_lmms_eval("Org/model", "mme", tmp_path / "out", runner=_fake_lmms_eval(calls), python="py")
    assert path.parent.name == "Org__model" and path.name.endswith("_results.json")
    assert calls == [le.build_command("Org/model", "mme", tmp_path / "out", python="py")]
    failing = lambda argv, check=False: type("Done", (), {"returncode": 3})()  # noqa: E731
    with pytest.raises(le.LmmsEvalError, match="status 3; command: py -m lmms_eval"):
        le.run_lmms_eval("Org/model", "mme", tmp_path / "o2", runner=failing, python="py")
    with pytest.raises(le.LmmsEvalError, match="no lmms-eval results"):
        le.run_lmms_eval("Org/model", "mme", tmp_path / "o3", runner=lambda a, check=False: None)


def test_missing_lmms_eval_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(le, "lmms_eval_available", lambda: False)
    with pytest.raises(le.LmmsEvalError, match="pip install lmms-eval"):
        le.run_lmms_eval("m", "mme", tmp_path)


def test_evaluate_lmms_reads_a_results_file_without_running(monkeypatch, tmp_path):
    monkeypatch.setattr(le, "lmms_eval_available", lambda: False)  # would fail if it tried to run
    result = le.evaluate_lmms(BASE_FILE, "mmbench_en_dev,mme", tmp_path)
    assert set(result["tasks"]) == {"mmbench_en_dev", "mme"}
    assert le.parse_results(DATA)["source"] in {str(BASE_FILE), str(TUNED_FILE)}  # a folder: newest file
