"""Two processes on the CPU (gloo) through `accelerate launch`: what only shows with several ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from currvl.training.distributed import SPREAD_KEY, rank_spread

REPO = Path(__file__).resolve().parents[2]
CPU_DDP = REPO / "configs" / "accelerate" / "cpu_ddp.yaml"
TRAINER = {
    "max_completion_length": 6,
    "num_generations": 2,
    "learning_rate": 1e-3,
    "save_steps": 50,
    "report_to": "none",
    "logging_steps": 1,
}


def _launcher(*args: str) -> tuple[list[str], dict[str, str]]:
    """`accelerate launch` with the CPU DDP config running `args`, and the environment it runs in."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_DDP), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    return launch, env


def _launch(tmp_path: Path, name: str, recipe: dict, processes: int = 2) -> Path:
    """Run `currvl train` on `recipe` under `accelerate launch` with `processes` CPU processes."""
    recipe = {**recipe, "output_dir": str(tmp_path / name)}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    launch, env = _launcher("--num_processes", str(processes), "-m", "currvl.cli.main", "train", str(path))
    done = subprocess.run(launch, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp_path / name


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _steps(run: Path) -> list[dict]:
    return [r for r in _rows(run) if "loss" in r]


def test_stats_of_a_split_sampling_pass_add_up():
    from currvl.algorithms.self_improve import merge_stats

    a = {
        "queries": 3,
        "answers": 6,
        "judged_by_model": 0,
        "mean_score": 50.0,
        "kept": 2,
        "queries_with_a_kept_answer": 2,
    }
    b = {
        "queries": 2,
        "answers": 4,
        "judged_by_model": 1,
        "mean_score": 100.0,
        "kept": 4,
        "queries_with_a_kept_answer": 2,
    }
    merged = merge_stats([a, b])
    assert merged == {
        "queries": 5,
        "answers": 10,
        "judged_by_model": 1,
        "mean_score": 70.0,  # (6 x 50 + 4 x 100) / 10
        "kept": 6,
        "queries_with_a_kept_answer": 4,
    }


def test_rank_spread_is_zero_only_when_ranks_agree():
    import torch

    same = torch.tensor([[3.0, 5.0], [3.0, 5.0]], dtype=torch.float64)
    assert rank_spread(same) == 0.0
    assert rank_spread(torch.tensor([[3.0, 5.0], [3.0, 5.5]], dtype=torch.float64)) == pytest.approx(
        0.5 / 5.5
    )


@pytest.mark.slow
def test_grpo_on_two_processes_keeps_ranks_identical_and_the_global_batch(tiny_model_dir, tmp_path):
    """Every rank holds the same weights after every step, and 2 processes x 4 completions walk the
    data exactly as 1 process x 8 does (same global batch, same epochs at every step)."""
    recipe = {
        "method": "grpo",
        "model": {"name_or_path": str(tiny_model_dir)},
        "data": {"train": {"synthetic": "scan", "n": 16, "seed": 0}},
        "rewards": ["format", "accuracy"],
        "trainer": {**TRAINER, "max_steps": 3, "per_device_train_batch_size": 4},
    }
    two = _launch(tmp_path, "two", recipe)
    steps = _steps(two)
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all(r[SPREAD_KEY] <= 1e-12 for r in steps), [r[SPREAD_KEY] for r in steps]
    one_recipe = {**recipe, "trainer": {**recipe["trainer"], "per_device_train_batch_size": 8}}
    one = _launch(tmp_path, "one", one_recipe, processes=1)
    assert [r["epoch"] for r in _steps(one)] == [r["epoch"] for r in steps]
    assert SPREAD_KEY not in _steps(one)[0]  # one process: nothing to compare
    assert (two / "final" / "model.safetensors").exists()


@pytest.mark.slow
def test_curriculum_threshold_hand_off_and_rcpa_run_on_every_rank(tiny_model_dir, tmp_path):
    """A threshold hand-off is decided from rewards gathered over both ranks (a rank that decided alone
    would wait forever for the other: the run would time out), in a stage about the concept; RCPA's pre-alignment and free phase
    with dynamic sampling keep the ranks identical."""
    base = {
        "model": {"name_or_path": str(tiny_model_dir)},
        "data": {"train": {"synthetic": "scan", "n": 16, "seed": 0}},
        "rewards": ["format", "accuracy"],
    }
    curriculum = {  # the judge stage asks about the concept (the number), as picture_counts' Curr-ReFT does
        **base,
        "data": {"train": {"synthetic": "picture_counts", "n": 16, "seed": 0}},
        "method": "grpo",
        "trainer": {**TRAINER, "per_device_train_batch_size": 4},
        "curriculum": [
            {
                "name": "judge",
                "format": "judge",
                "about": "concept",
                "max_steps": 5,
                "advance": "threshold",
                "threshold": 0.0,
                "window": 2,
            },
            {"name": "open", "format": "open", "max_steps": 1},
        ],
        "self_improve": {
            "data": {"synthetic": "general", "n": 6},
            "num_samples": 2,
            "max_new_tokens": 6,
            "threshold": 0,
            "trainer": {"per_device_train_batch_size": 2, "max_steps": 1, "report_to": "none"},
        },
    }
    run = _launch(tmp_path, "curriculum", curriculum)
    stats = json.loads((run / "self-improve" / "stats.json").read_text())
    assert (stats["queries"], stats["answers"]) == (6, 12)  # the queries split over the ranks, once each
    kept = (run / "self-improve" / "kept.jsonl").read_text().splitlines()
    assert (
        len(kept) == stats["kept"] and (run / "self-improve" / "sft" / "final" / "model.safetensors").exists()
    )
    judge = _steps(run / "stage0-judge")
    assert [r["step"] for r in judge] == [1, 2]  # handed off after its 2-step window, on both ranks
    assert all(r[SPREAD_KEY] <= 1e-12 for r in judge + _steps(run / "stage1-open"))
    rcpa = {
        **base,
        "method": "rcpa",
        "trainer": {**TRAINER, "max_steps": 4, "per_device_train_batch_size": 4},
        "rcpa": {"steps": 2, "rho_max": 1.0},
        "rollout": {"dynamic_sampling": {"min": 0.0, "max": 1.0, "max_rounds": 1}},
    }
    steps = _steps(_launch(tmp_path, "rcpa", rcpa))
    assert [r["rcpa/rho"] for r in steps] == [1.0, 0.5, 0.0, 0.0]
    assert all(r[SPREAD_KEY] <= 1e-12 for r in steps)
    # the reference as a group member, drawn per group: a step where one rank draws a member and the
    # other none must still pair the reward gathers (it crashed gloo: "collective mismatch")
    member = {**rcpa, "trainer": {**rcpa["trainer"], "max_steps": 8}}
    member["rcpa"] = {"steps": 8, "rho_max": 1.0, "constraint": "reference_member"}
    steps = _steps(_launch(tmp_path, "member", member))
    assert len(steps) == 8 and all(r[SPREAD_KEY] <= 1e-12 for r in steps)


@pytest.mark.slow
def test_sigterm_to_the_launcher_leaves_one_checkpoint_and_resume_continues_every_rank(
    tiny_model_dir, tmp_path
):
    import signal
    import time

    recipe = {
        "method": "grpo",
        "output_dir": str(tmp_path / "run"),
        "model": {"name_or_path": str(tiny_model_dir)},
        "data": {"train": {"synthetic": "scan", "n": 64, "seed": 0}},
        "rewards": ["format", "accuracy"],
        "trainer": {**TRAINER, "max_steps": 2000, "per_device_train_batch_size": 4},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(recipe))
    launch, env = _launcher("-m", "currvl.cli.main", "train", str(path))
    proc = subprocess.Popen(
        launch, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:  # stop once 3 steps are logged
        if metrics.exists() and sum('"loss"' in line for line in metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert "checkpoint saved" in output, output[-3000:]
    (checkpoint,) = list((tmp_path / "run").glob("checkpoint-*"))  # one, complete (no tmp- left)
    stopped = int(checkpoint.name.split("-")[1])
    assert stopped >= 3 and not list((tmp_path / "run").glob("tmp-checkpoint-*"))
    resume = [*launch, "--resume", "--set", f"trainer.max_steps={stopped + 2}"]
    done = subprocess.run(resume, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = _steps(tmp_path / "run")
    assert [r["step"] for r in steps][-3:] == [stopped, stopped + 1, stopped + 2]  # continued, not restarted
    assert all(r[SPREAD_KEY] <= 1e-12 for r in steps)


def test_sharded_parameters_are_not_compared():
    import torch

    from currvl.training.distributed import is_sharded

    plain = torch.nn.Linear(2, 2)
    assert not is_sharded(plain)
    plain.weight.ds_numel = 4  # what DeepSpeed ZeRO-3 leaves on a partitioned parameter
    assert is_sharded(plain)


@pytest.mark.slow
def test_a_nan_loss_on_one_rank_skips_the_update_on_every_rank(tiny_model_dir, tmp_path):
    script = Path(__file__).with_name("nan_on_one_rank.py")
    launch, env = _launcher(str(script), str(tiny_model_dir), str(tmp_path / "run"))
    done = subprocess.run(launch, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "step 2: loss is nan; skipping this update" in done.stdout + done.stderr
    ranks = [json.loads((tmp_path / "run" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]  # the same weights on both ranks after every step
    assert ranks[0]["2"] == ranks[0]["1"] and ranks[0]["3"] != ranks[0]["2"]  # step 2 skipped, step 3 trained


@pytest.mark.slow
def test_sigterm_inside_a_curriculum_stage_resumes_every_rank_in_that_stage(tiny_model_dir, tmp_path):
    import signal
    import time

    def stages(open_steps: int) -> list[dict]:
        return [
            {"name": "judge", "format": "judge", "max_steps": 2},
            {"name": "open", "format": "open", "max_steps": open_steps},
        ]

    recipe = {
        "method": "grpo",
        "output_dir": str(tmp_path / "run"),
        "model": {"name_or_path": str(tiny_model_dir)},
        "data": {"train": {"synthetic": "scan", "n": 64, "seed": 0}},
        "rewards": ["format", "accuracy"],
        "trainer": {**TRAINER, "per_device_train_batch_size": 4},
        "curriculum": stages(2000),
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(recipe))
    launch, env = _launcher("-m", "currvl.cli.main", "train", str(path))
    proc = subprocess.Popen(
        launch, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    metrics = tmp_path / "run" / "stage1-open" / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:  # stop inside the second stage
        if metrics.exists() and sum('"loss"' in line for line in metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert "checkpoint saved" in output, output[-3000:]
    (checkpoint,) = list((tmp_path / "run" / "stage1-open").glob("checkpoint-*"))
    stopped = int(checkpoint.name.split("-")[1])
    resume = [*launch, "--resume", "--set", f"curriculum={json.dumps(stages(stopped + 2))}"]
    done = subprocess.run(resume, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stage 1/2" not in done.stderr + done.stdout  # the finished stage is not run again
    steps = _steps(tmp_path / "run" / "stage1-open")
    assert [r["step"] for r in steps][-3:] == [stopped, stopped + 1, stopped + 2]
    assert all(r[SPREAD_KEY] <= 1e-12 for r in steps)
