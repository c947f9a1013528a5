"""`currvl diagnose` end to end on the tiny model: every figure, the files, and no silent overwrite."""

import json

import pytest

from currvl.cli.main import main
from currvl.data.synthetic import write_synthetic
from currvl.evaluation.reachability import concept_vocabulary
from currvl.experiments.diagnose import FILES


@pytest.mark.slow
def test_diagnose_writes_its_figures_and_refuses_to_overwrite(tiny_model_dir, tmp_path, capsys):
    data = tmp_path / "signs"
    write_synthetic(data, "signs", n_train=12, n_test=2)  # a folder of JSONL, as a user brings
    args = ["diagnose", "--model", str(tiny_model_dir), "--data", str(data), "--n", "10", "--k", "2"]
    args += ["--control-n", "10", "--out", str(tmp_path / "diag"), "--concepts", "warning,stop"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| meaning | 10 |" in printed and "Recommendation:" in printed
    figures = json.loads((tmp_path / "diag" / "diagnosis.json").read_text())
    for section in ("free", "prefix_share", "prefix_concept", "forms", "sight", "sight_control"):
        assert section in figures, section
    assert figures["free"]["categories"]["meaning"]["items"] == 10
    assert figures["forms"]["judge"]["chance"]["meaning"] == 0.5
    assert figures["forms"]["open"]["chance"]["meaning"] == pytest.approx(0.2)
    assert figures["recommendation"]["method"] in (
        "grpo",
        "grpo_dynamic_sampling",
        "curr_reft",
        "rcpa",
        "sft_then_grpo",
    )
    for name in FILES:
        assert (tmp_path / "diag" / name).stat().st_size > 0
    assert main(args) == 2  # an earlier diagnosis is never replaced without --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_concepts_of_a_synthetic_world_and_of_the_user():
    assert concept_vocabulary("synthetic:signs:10") == ["warning", "stop", "parking", "hospital", "museum"]
    assert "left" in concept_vocabulary("synthetic:unseen_forms")
    assert concept_vocabulary("data/mine", ["cyst", "nodule"]) == ["cyst", "nodule"]
