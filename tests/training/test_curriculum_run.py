"""A Curr-ReFT curriculum in one process: stages, hand-offs, reference reset, crash + resume."""

from __future__ import annotations

import json

import pytest
from transformers import TrainerCallback

from currvl.training.recipe import RecipeError, recipe_from_dict
from currvl.training.run import train


def length_reward(prompts, completions, **kwargs):
    """Spread in every group, so the policy moves even where the accuracy reward ties."""
    return [float(len(c[0]["content"]) % 5) for c in completions]


def _recipe(model_dir, out, reset_reference=True, lr=0.05):
    return recipe_from_dict(
        {
            "method": "grpo",
            "output_dir": str(out),
            "model": {"name_or_path": str(model_dir)},
            "data": {"train": {"synthetic": "scan", "n": 8, "seed": 0}},
            "trainer": {
                "per_device_train_batch_size": 4,
                "num_generations": 2,
                "max_completion_length": 6,
                "learning_rate": lr,
                "beta": 0.04,
                "save_steps": 1,
                "report_to": "none",
                "seed": 0,
            },
            "curriculum": [
                {"name": "judge", "format": "judge", "max_steps": 2, "rewards": REWARDS},
                {
                    "name": "choice",
                    "format": "choice",
                    "max_steps": 2,
                    "reset_reference": reset_reference,
                    "rewards": REWARDS,
                },
                {"name": "open", "format": "open", "max_steps": 1, "rewards": REWARDS},
            ],
        }
    )


REWARDS = ["format", "accuracy", "tests.training.test_curriculum_run:length_reward"]


class CrashInStage(TrainerCallback):
    def __init__(self, stage: str, step: int):
        self.stage, self.step = stage, step

    def on_save(self, args, state, control, **kwargs):
        if self.stage in args.output_dir and state.global_step == self.step:
            raise KeyboardInterrupt


def _first_kl(stage_dir):
    history = json.loads((stage_dir / "log_history.json").read_text())
    return [h["kl"] for h in history if "kl" in h][0]


def test_stages_run_in_order_with_metrics_and_reference_reset(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    final = train(_recipe(tiny_model_dir, out))
    assert final == out / "stage2-open" / "final" and (final / "model.safetensors").exists()
    metrics = json.loads((out / "curriculum_metrics.json").read_text())
    assert [m["stage"] for m in metrics] == ["judge", "choice", "open"]
    assert [m["steps"] for m in metrics] == [2, 2, 1]
    for m in metrics:
        assert 0.0 <= m["frac_reward_zero_std"] <= 1.0 and m["accuracy_reward"] is not None
        assert 0.0 <= m["zero_variance_task"] <= 1.0  # on the accuracy reward alone
    assert [m["hand_off"]["at_global_step"] for m in metrics] == [2, 4, 5]
    # the KL anchor is the policy at stage start: the first step of every stage has KL exactly 0,
    # although the policy did move (KL > 0 later in the stage)
    for stage in ("stage0-judge", "stage1-choice"):
        kls = [h["kl"] for h in json.loads((out / stage / "log_history.json").read_text()) if "kl" in h]
        assert kls[0] == 0.0 and kls[-1] > 0.0
    assert _first_kl(out / "stage2-open") == 0.0
    # the judge stage really saw yes/no items
    history = json.loads((out / "stage0-judge" / "log_history.json").read_text())
    assert any("rewards/accuracy/mean" in h for h in history)


def test_reference_can_stay_at_the_starting_model(tiny_model_dir, tmp_path):
    out = tmp_path / "anchored"
    train(_recipe(tiny_model_dir, out, reset_reference=False, lr=0.2))
    assert _first_kl(out / "stage1-choice") > 0.0  # policy moved in stage 0, reference did not


def test_crash_mid_curriculum_resumes_in_the_right_stage(tiny_model_dir, tmp_path):
    straight = tmp_path / "straight"
    train(_recipe(tiny_model_dir, straight))
    crashed = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        train(_recipe(tiny_model_dir, crashed), callbacks=[CrashInStage("stage1-choice", 1)])
    assert (crashed / "stage0-judge" / "final").exists() and not (
        crashed / "stage1-choice" / "final"
    ).exists()
    state = json.loads((crashed / "stage1-choice" / "checkpoint-1" / "curriculum_state.json").read_text())
    assert (state["stage_index"], state["stage_step"], state["global_step"]) == (1, 1, 3)
    train(_recipe(tiny_model_dir, crashed), resume=True)
    a = json.loads((straight / "curriculum_metrics.json").read_text())
    b = json.loads((crashed / "curriculum_metrics.json").read_text())
    assert [m["hand_off"] for m in a] == [m["hand_off"] for m in b]
    assert [m["steps"] for m in b] == [2, 2, 1]


def test_bad_stage_is_reported_with_its_line(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(
        "method: grpo\nmodel:\n  name_or_path: m\ndata:\n  train: d.jsonl\ncurriculum:\n"
        "  - name: judge\n    format: judge\n  - name: open\n    formt: open\n"
    )
    from currvl.training.recipe import load_recipe

    with pytest.raises(
        RecipeError, match=r":10: curriculum.1.formt: unknown key \(did you mean 'curriculum.1.format'\?\)"
    ):
        load_recipe(p)
    p.write_text(
        "method: grpo\nmodel:\n  name_or_path: m\ndata:\n  train: d.jsonl\ncurriculum:\n  - name: a\n    advance: threshold\n"
    )
    with pytest.raises(RecipeError, match=r":7: curriculum.0: .*needs a threshold"):
        load_recipe(p)


def test_a_stage_about_the_concept_needs_concept_words_and_a_judge_or_choice_format(tmp_path):
    from currvl.training.recipe import load_recipe

    p = tmp_path / "r.yaml"
    head = "method: grpo\nmodel:\n  name_or_path: m\ndata:\n  train: d.jsonl\ncurriculum:\n"
    p.write_text(
        head + "  - name: judge\n    format: judge\n    about: concept\n  - name: open\n    format: open\n"
    )
    with pytest.raises(RecipeError, match=r":4: data.concepts: a stage asks about the concept"):
        load_recipe(p)
    p.write_text(head + "  - name: open\n    format: open\n    about: concept\n")
    with pytest.raises(RecipeError, match=r":7: curriculum.0: .*asks for the answer itself"):
        load_recipe(p)
    p.write_text(head + "  - name: judge\n    format: judge\n    about: topic\n")
    with pytest.raises(RecipeError, match=r"about must be one of \('answer', 'concept'\)"):
        load_recipe(p)
    p.write_text(
        head.replace("  train: d.jsonl\n", "  train: d.jsonl\n  concepts: ['3']\n")
        + "  - name: j\n    format: judge\n    about: concept\n"
    )
    assert load_recipe(p).curriculum[0].about == "concept"


def test_a_judge_stage_about_the_concept_judges_the_number_not_the_sentence():
    from currvl.training.curriculum_run import _asked_about

    recipe = recipe_from_dict(
        {
            "method": "grpo",
            "model": {"name_or_path": "m"},
            "data": {"train": {"synthetic": "picture_counts", "n": 6, "seed": 0}},
            "curriculum": [
                {"name": "judge", "format": "judge", "about": "concept"},
                {"name": "open", "format": "open"},
            ],
        }
    )
    from currvl.data.sources import load_source

    items = load_source(recipe.data.train)
    judge, open_stage = recipe.curriculum
    assert [s["answer"] for s in _asked_about(recipe, judge, items)] == [s["answer"][16] for s in items]
    assert _asked_about(recipe, open_stage, items) == items
