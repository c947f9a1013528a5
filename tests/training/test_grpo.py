"""CurrvlGRPOTrainer: our loss equals TRL's on real rollouts of the tiny VLM, and training moves the model."""

from __future__ import annotations

import json
import zlib

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from trl import GRPOTrainer

from currvl.algorithms.dynamic_sampling import DynamicSamplingConfig
from currvl.algorithms.grpo import group_advantages
from currvl.data.schema import make_sample
from currvl.models import load_model
from currvl.models.vision_sharing import unshare_image_encoding
from currvl.training.datasets import to_grpo_dataset
from currvl.training.grpo import DYNAMIC_SAMPLING_STATE_FILE, CurrvlGRPOTrainer
from currvl.training.recipe import RecipeError, load_recipe, recipe_from_dict
from currvl.training.run import train
from currvl.training.trainer_configs import CurrvlGRPOConfig
from tests.training.test_rcpa import CrashAt

COLORS = ["red", "blue", "green", "yellow"]


def _samples(n: int = 8):
    sizes = [56, 84, 112]
    return [
        make_sample(
            "What color is the shape?",
            COLORS[i % 4],
            "text",
            image=Image.new("RGB", (sizes[i % 3], sizes[(i + 1) % 3]), COLORS[i % 4]),
            category="color",
            id=f"s{i}",
        )
        for i in range(n)
    ]


def length_reward(prompts, completions, **kwargs):
    """A reward with spread, so groups have non-zero advantages."""
    return [float(len(c[0]["content"]) % 5) for c in completions]


def _trainer(
    tiny_model_dir,
    tmp_path,
    share_vision_encoding=True,
    reward_funcs=length_reward,
    dynamic_sampling=None,
    **overrides,
):
    model, processor = load_model(tiny_model_dir)
    args = dict(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        bf16=False,
        report_to="none",
        num_generations=4,
        per_device_train_batch_size=8,
        max_completion_length=8,
        max_steps=2,
        learning_rate=0.05,
        logging_steps=1,
        save_strategy="no",
        seed=0,
        share_vision_encoding=share_vision_encoding,
        dynamic_sampling=dynamic_sampling,
    )
    args.update(overrides)
    return CurrvlGRPOTrainer(
        model=model,
        processing_class=processor,
        reward_funcs=reward_funcs,
        train_dataset=to_grpo_dataset(_samples()),
        args=CurrvlGRPOConfig(**args),
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"loss_type": "grpo", "beta": 0.04},
        {"loss_type": "bnpo", "beta": 0.0},
        {"loss_type": "dr_grpo", "beta": 0.04},
        {"loss_type": "dapo", "beta": 0.04, "epsilon_high": 0.28},
        {"loss_type": "dapo", "beta": 0.0, "importance_sampling_level": "sequence"},
    ],
)
def test_loss_parity_with_trl(tiny_model_dir, tmp_path, overrides):
    trainer = _trainer(tiny_model_dir, tmp_path, **overrides)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train() in real runs
    torch.manual_seed(0)
    batch = next(iter(trainer.get_train_dataloader()))
    inputs = trainer._prepare_inputs(batch)
    # perturb the "old" policy so the ratio and clipping are exercised, not just ratio == 1
    inputs["old_per_token_logps"] = trainer._get_per_token_logps_and_entropies(
        trainer.model,
        torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1),
        torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1),
        inputs["completion_ids"].size(1),
        **CurrvlGRPOTrainer._multimodal_inputs(inputs),
    )[0].detach() + 0.3 * torch.randn_like(inputs["completion_mask"], dtype=torch.float32)
    ours = trainer._compute_loss(trainer.model, inputs)
    theirs = GRPOTrainer._compute_loss(trainer, trainer.model, inputs)
    assert torch.allclose(ours, theirs, atol=1e-6), (ours.item(), theirs.item())
    ours.backward()
    grads_ours = [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]
    trainer.model.zero_grad()
    GRPOTrainer._compute_loss(trainer, trainer.model, inputs).backward()
    grads_theirs = [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]
    assert len(grads_ours) == len(grads_theirs) > 0
    for a, b in zip(grads_ours, grads_theirs, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_advantage_parity_with_trl(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path)
    trainer.model.train()
    batch = next(iter(trainer.get_train_dataloader()))
    trainer._prepare_inputs(batch)
    rewards = torch.tensor(list(trainer._logs["rewards"]["length_reward"]))
    trl_advantages = torch.tensor(list(trainer._logs["advantages"]))
    ours, _ = group_advantages(rewards, num_generations=4)
    assert torch.allclose(ours, trl_advantages, atol=1e-5)


def test_grpo_steps_change_parameters_and_log_rewards(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, beta=0.04)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    changed = [n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert any("visual" in n for n in changed), "the vision tower must receive gradient"
    assert any("language_model" in n for n in changed)
    logs = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logs) == 2
    for h in logs:
        assert {"reward", "frac_reward_zero_std", "kl", "entropy", "signal/zero_variance_task"} <= h.keys()
        assert 0.0 <= h["signal/zero_variance_task"] <= 1.0


# --- shared vision encoding -------------------------------------------------------------------------


def test_shared_vision_encoding_leaves_loss_and_gradients_unchanged(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, beta=0.04)
    assert trainer.share_vision_encoding  # on by default
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    assert inputs["image_grid_thw"].shape[0] == 8  # 2 prompts x 4 completions: 8 copies of 2 images

    def loss_and_grads():
        trainer.model.zero_grad()
        loss = trainer._compute_loss(trainer.model, inputs)
        loss.backward()
        return loss.detach(), {
            n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None
        }

    shared_loss, shared_grads = loss_and_grads()
    unshare_image_encoding(trainer.model)
    loss, grads = loss_and_grads()
    assert torch.allclose(shared_loss, loss, atol=1e-6)
    assert any("visual" in n for n in grads) and grads.keys() == shared_grads.keys()
    for name, g in grads.items():
        torch.testing.assert_close(shared_grads[name], g, atol=1e-6, rtol=1e-4, msg=name)


def test_shared_vision_encoding_can_be_turned_off(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, share_vision_encoding=False)
    assert not trainer.share_vision_encoding
    assert "get_image_features" not in vars(trainer.model.model)


# --- dynamic sampling -------------------------------------------------------------------------------


def red_is_solved(prompts, completions, answer, **kwargs):
    """Every rollout of a 'red' item scores 1 (a group with nothing to learn); others spread over [0, 1)."""
    return [
        1.0 if a == "red" else (zlib.crc32(c[0]["content"].encode()) % 997) / 997
        for c, a in zip(completions, answer, strict=True)
    ]


def _ds_trainer(tiny_model_dir, tmp_path, max_rounds: int):
    return _trainer(
        tiny_model_dir,
        tmp_path,
        reward_funcs=red_is_solved,
        dynamic_sampling=DynamicSamplingConfig(max_rounds=max_rounds),
        max_steps=1,
    )


def _red_then_blue(trainer):
    rows = trainer.train_dataset
    assert rows[0]["answer"] == "red" and rows[1]["answer"] == "blue"
    return [dict(rows[0])] * 4 + [dict(rows[1])] * 4


def test_dynamic_sampling_replaces_groups_without_signal(tiny_model_dir, tmp_path):
    trainer = _ds_trainer(tiny_model_dir, tmp_path, max_rounds=3)
    trainer.model.train()
    out = trainer._generate_and_score_completions(_red_then_blue(trainer))
    assert out["completion_ids"].shape[0] == 8 and out["image_grid_thw"].shape[0] == 8
    per_group = out["advantages"].view(2, 4).abs().sum(dim=1)
    assert (per_group > 0).all(), "the solved 'red' group was replaced by one with reward spread"
    metrics = trainer._metrics["train"]
    assert metrics["dynamic_sampling/dropped_fraction"] == [0.5]
    assert metrics["dynamic_sampling/rounds"][0] >= 1 and metrics["dynamic_sampling/filled_groups"] == [0.0]
    assert metrics["dynamic_sampling/prompts_drawn"][0] == trainer._prompts_drawn >= 1
    assert metrics["signal/zero_variance_task"] == [0.5], "signal metrics describe the batch as sampled"


def test_dynamic_sampling_without_rounds_keeps_the_batch_size(tiny_model_dir, tmp_path):
    trainer = _ds_trainer(tiny_model_dir, tmp_path, max_rounds=0)
    trainer.model.train()
    out = trainer._generate_and_score_completions(_red_then_blue(trainer))
    assert out["completion_ids"].shape[0] == 8
    assert out["advantages"].view(2, 4).abs().sum(dim=1).tolist()[1] == 0.0  # the dropped group, refilled
    metrics = trainer._metrics["train"]
    assert metrics["dynamic_sampling/filled_groups"] == [1.0] and metrics["dynamic_sampling/rounds"] == [0.0]
    assert trainer._prompts_drawn == 0


def test_dynamic_sampling_needs_a_task_reward(tiny_model_dir, tmp_path):
    def format_reward(prompts, completions, **kwargs):
        return [0.0] * len(completions)

    model, processor = load_model(tiny_model_dir)
    with pytest.raises(ValueError, match="task reward"):
        CurrvlGRPOTrainer(
            model=model,
            processing_class=processor,
            reward_funcs=format_reward,
            train_dataset=to_grpo_dataset(_samples()),
            args=CurrvlGRPOConfig(
                output_dir=str(tmp_path),
                use_cpu=True,
                report_to="none",
                num_generations=4,
                per_device_train_batch_size=8,
                dynamic_sampling=DynamicSamplingConfig(),
            ),
        )


def _ds_recipe(model_dir, out):
    return recipe_from_dict(
        {
            "method": "grpo",
            "output_dir": str(out),
            "seed": 0,
            "model": {"name_or_path": str(model_dir)},
            "data": {"train": {"synthetic": "scan", "n": 8, "seed": 0}},
            "rewards": ["format", "accuracy"],
            "rollout": {"dynamic_sampling": {"min": 0.0, "max": 1.0, "max_rounds": 2}},
            "trainer": {
                "per_device_train_batch_size": 4,
                "num_generations": 2,
                "max_completion_length": 6,
                "learning_rate": 0.01,
                "max_steps": 3,
                "save_steps": 1,
                "report_to": "none",
            },
        }
    )


def test_dynamic_sampling_runs_in_a_recipe_and_resumes_its_state(tiny_model_dir, tmp_path):
    straight = tmp_path / "straight"
    final = train(_ds_recipe(tiny_model_dir, straight))
    history = json.loads((straight / "log_history.json").read_text())
    steps = [h for h in history if "dynamic_sampling/rounds" in h]
    assert len(steps) == 3
    drawn = [
        json.loads((straight / f"checkpoint-{s}" / DYNAMIC_SAMPLING_STATE_FILE).read_text())
        for s in (1, 2, 3)
    ]
    # an untrained model fails every item: all groups dropped, each step draws replacements
    assert drawn[0]["prompts_drawn"] > 0 and drawn[2]["prompts_drawn"] > drawn[0]["prompts_drawn"]

    crashed = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        train(_ds_recipe(tiny_model_dir, crashed), callbacks=[CrashAt(1)])
    resumed = train(_ds_recipe(tiny_model_dir, crashed), resume=True)
    state = json.loads((crashed / "checkpoint-3" / DYNAMIC_SAMPLING_STATE_FILE).read_text())
    assert state == drawn[2]
    a, b = load_file(str(final / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)


def test_dynamic_sampling_recipe_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "method: grpo\nmodel: {name_or_path: x}\ndata: {train: x.jsonl}\n"
        "rollout:\n  dynamic_sampling:\n    min: 1.0\n    max: 0.5\n"
    )
    with pytest.raises(RecipeError, match=r"bad.yaml:5: rollout.dynamic_sampling: .*below max"):
        load_recipe(path)
    path.write_text(
        "method: sft\nmodel: {name_or_path: x}\ndata: {train: x.jsonl}\nrollout:\n  dynamic_sampling: {}\n"
    )
    with pytest.raises(RecipeError, match="needs an RL method"):
        load_recipe(path)
