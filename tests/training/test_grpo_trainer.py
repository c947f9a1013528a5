"""CurrvlGRPOTrainer: our loss equals TRL's on real rollouts of the tiny VLM, and training moves the model."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from trl import GRPOConfig, GRPOTrainer

from currvl.algorithms.grpo import group_advantages
from currvl.data.schema import make_sample
from currvl.models import load_model
from currvl.training.datasets import to_grpo_dataset
from currvl.training.grpo import CurrvlGRPOTrainer

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


def _trainer(tiny_model_dir, tmp_path, **overrides):
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
    )
    args.update(overrides)
    return CurrvlGRPOTrainer(
        model=model,
        processing_class=processor,
        reward_funcs=length_reward,
        train_dataset=to_grpo_dataset(_samples()),
        args=GRPOConfig(**args),
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
