"""The embedded default job end to end, in its quick size."""

import json

from currvl.cli.main import main


def test_quick_demo_runs_end_to_end_and_reuses_the_cached_base(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert main(["demo", "--quick", "--workdir", str(workdir)]) == 0
    report = json.loads((workdir / "demo_report.json").read_text())
    for stage in ("before", "after"):
        assert set(report[stage]) == {"general", "scan"}
        assert report[stage]["general"]["n"] == 40 and report[stage]["scan"]["n"] == 20
    assert len(report["grpo_log"]) == 2
    assert all("frac_reward_zero_std" in h for h in report["grpo_log"])
    assert (workdir / "grpo" / "final" / "model.safetensors").exists()
    base = workdir / "base" / "final" / "model.safetensors"
    stamp = base.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["demo", "--quick", "--workdir", str(workdir)]) == 0
    assert "reusing cached pretrained base model" in capsys.readouterr().out
    assert base.stat().st_mtime_ns == stamp
