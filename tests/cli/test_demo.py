"""The embedded default job end to end, in its quick size, from the shipped base."""

import json

from currvl.cli.main import main


def test_quick_demo_runs_from_the_shipped_base_and_prints_its_gate(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert main(["demo", "--quick", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    from currvl.models.loading import SHIPPED_BASE

    verdict = "PASS" if json.loads((SHIPPED_BASE / "gate.json").read_text())["passed"] else "FAIL"
    assert "shipped bench base" in out and "base model gate" in out and f"gate {verdict}" in out
    report = json.loads((workdir / "demo_report.json").read_text())
    for stage in ("before", "after"):
        assert set(report[stage]) == {"general", "scan"}
        assert report[stage]["general"]["n"] == 40 and report[stage]["scan"]["n"] == 20
    assert report["before"]["general"]["score"] >= 0.8  # a competent base, not a random one
    assert len(report["grpo_log"]) == 2
    assert (workdir / "grpo" / "final" / "model.safetensors").exists()
    assert not (workdir / "base").exists()  # nothing pretrained: the shipped base is used as is
