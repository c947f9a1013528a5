"""The embedded default job end to end, in its quick size, from the shipped base."""

import json

from currvl.cli.main import main
from currvl.experiments.demo import NAMES


def test_quick_demo_runs_from_the_shipped_base_and_prints_its_gate(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert main(["demo", "--quick", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    from currvl.models.loading import SHIPPED_BASE

    verdict = "PASS" if json.loads((SHIPPED_BASE / "gate.json").read_text())["passed"] else "FAIL"
    assert "shipped bench base" in out and "base model gate" in out and f"gate {verdict}" in out
    report = json.loads((workdir / "demo_report.json").read_text())
    recommended = report["diagnosis"]["recommendation"]["method"]
    assert f"diagnosis: {NAMES[recommended]}, because" in " ".join(out.split())
    assert list(report["after"]) == list(dict.fromkeys(["sft", "grpo", recommended]))
    for result in [report["before"], *report["after"].values()]:
        assert set(result) == {"general", "scan"}
        assert result["general"]["n"] == 40 and result["scan"]["n"] == 20
    assert report["before"]["general"]["score"] >= 0.8  # a competent base, not a random one
    assert len(report["grpo_log"]) == 2  # 8 domain prompts: 2 GRPO steps of 4
    assert report["diagnosis"]["chance"]["finding"] == 0.2
    assert "retention" in out and "{'loss'" not in out  # compact lines, never TRL's dicts
    assert (workdir / "grpo" / "final" / "model.safetensors").exists()
    assert not (workdir / "base").exists()  # nothing pretrained: the shipped base is used as is


def test_every_recommendation_the_demo_can_train_has_a_recipe(tmp_path):
    """diagnose may recommend GRPO with dynamic sampling (session 20): the demo trains it as the
    compare configs' GRPO+DS row does; every other method keeps its recipe."""
    from pathlib import Path

    from currvl.experiments.demo import DemoSizes, _recipe

    ds = _recipe("grpo_dynamic_sampling", Path("base"), tmp_path / "ds", DemoSizes(), 320)
    assert ds.method == "grpo" and ds.rollout.dynamic_sampling.max_rounds == 3
    plain = _recipe("grpo", Path("base"), tmp_path / "grpo", DemoSizes(), 320)
    assert plain.rollout.dynamic_sampling is None and plain.trainer["max_steps"] == ds.trainer["max_steps"]
    assert NAMES["grpo_dynamic_sampling"] == "GRPO+DS"
