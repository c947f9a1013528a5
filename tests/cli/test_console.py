"""What `currvl train` prints: a compact line per step, never TRL's metric dict unless --verbose."""

import json

import pytest
import yaml

from currvl.cli.main import main
from currvl.training.console import compact_line, set_verbose


@pytest.fixture(autouse=True)
def _quiet_again():
    yield
    set_verbose(False)


def _recipe(tmp_path, model_dir, name: str):
    path = tmp_path / f"{name}.yaml"
    recipe = {
        "method": "grpo",
        "output_dir": str(tmp_path / name),
        "model": {"name_or_path": str(model_dir)},
        "data": {"train": {"synthetic": "scan", "n": 4, "seed": 0}},
        "rewards": ["format", "accuracy"],
        "trainer": {
            "max_steps": 2,
            "per_device_train_batch_size": 4,
            "num_generations": 2,
            "max_completion_length": 6,
            "report_to": "none",
        },
    }
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.slow
def test_train_prints_compact_lines_and_logs_every_metric(tiny_model_dir, tmp_path, capsys):
    assert main(["train", str(_recipe(tmp_path, tiny_model_dir, "quiet"))]) == 0
    printed = "".join(capsys.readouterr())
    assert "step 2/2 | loss" in printed and "| reward " in printed and "| task " in printed
    assert "{'loss'" not in printed and "'rewards/" not in printed
    rows = [json.loads(line) for line in (tmp_path / "quiet" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    assert all("rewards/accuracy/mean" in r for r in rows if "loss" in r)

    assert main(["train", str(_recipe(tmp_path, tiny_model_dir, "loud")), "--verbose"]) == 0
    assert "'rewards/accuracy/mean'" in "".join(capsys.readouterr())


def test_compact_line_names_what_a_person_watches():
    logs = {
        "loss": 0.01234,
        "reward": 1.5,
        "rewards/format/mean": 1.0,
        "rewards/accuracy/mean": 0.25,
        "rewards/findings_f1/mean": 0.25,
        "signal/zero_variance_task": 0.5,
        "kl": 0.0031,
        "rcpa/rho": 0.45,
        "learning_rate": 2e-5,
    }
    line = compact_line(logs, 12, 90, 2.13, label="stage0-judge")
    assert line == (
        "stage0-judge step 12/90 | loss 0.0123 | reward 1.500 | task 0.500 | zero-var 0.50 | kl 0.0031 "
        "| rho 0.45 | lr 2.0e-05 | 2.1 s/step"
    )
    assert compact_line({"loss": 1.0}, 1, 2, None) == "step 1/2 | loss 1.0000"
