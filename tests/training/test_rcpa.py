"""The RCPA trainer on real rollouts of the tiny VLM: forced prefixes, loss masks, parity, resume."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback
from trl import GRPOTrainer

from currvl.algorithms.dynamic_sampling import DynamicSamplingConfig
from currvl.algorithms.rcpa import RCPAConfig, prefix_length
from currvl.data.synthetic import make_samples
from currvl.models import load_model
from currvl.rewards import get_reward_funcs
from currvl.training.datasets import to_grpo_dataset
from currvl.training.rcpa import STATE_FILE, CurrvlRCPATrainer
from currvl.training.recipe import RecipeError, recipe_from_dict
from currvl.training.run import train
from currvl.training.trainer_configs import CurrvlRCPAConfig


def length_reward(prompts, completions, **kwargs):
    """A reward with spread, so groups have non-zero advantages."""
    return [float(len(c[0]["content"]) % 5) for c in completions]


def _trainer(tiny_model_dir, tmp_path, beta=0.04, num_generations=2, reward_funcs=None, **rcpa):
    # mixed image sizes in one batch
    samples = make_samples("scan", "train", 4, seed=0, image_size=(56, 112))
    model, processor = load_model(tiny_model_dir)
    args = CurrvlRCPAConfig(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        bf16=False,
        report_to="none",
        num_generations=num_generations,
        per_device_train_batch_size=4,
        max_completion_length=6,
        max_steps=2,
        learning_rate=0.05,
        logging_steps=1,
        save_strategy="no",
        seed=0,
        beta=beta,
        rcpa=RCPAConfig(**rcpa),
    )
    trainer = CurrvlRCPATrainer(
        model=model,
        processing_class=processor,
        reward_funcs=reward_funcs or [*get_reward_funcs(["format", "accuracy"]), length_reward],
        train_dataset=to_grpo_dataset(samples, with_reference=True),
        args=args,
    )
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train() in real runs
    return trainer


def _rollouts(trainer):
    torch.manual_seed(0)
    batch = next(iter(trainer.get_train_dataloader()))
    return batch, trainer._generate_and_score_completions(batch)


def test_forced_tokens_are_exactly_the_reference_prefix(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, rho_max=0.5, steps=10)
    batch, out = _rollouts(trainer)
    tok = trainer.processing_class.tokenizer
    for i, row in enumerate(batch):
        ref = tok(row["reference"], add_special_tokens=False)["input_ids"]
        k = prefix_length(0.5, len(ref))
        assert 0 < k < len(ref)
        assert out["completion_ids"][i, :k].tolist() == ref[:k]
        assert out["forced_mask"][i].tolist() == [1] * k + [0] * (out["forced_mask"].size(1) - k)
        assert out["completion_mask"][i, k:].sum() > 0, "the policy must still write something"
    assert not out["reference_member"].any()


def test_guidance_on_failure_constrains_only_groups_that_all_fail(tiny_model_dir, tmp_path):
    """BREAD-style guidance: the free rollouts of group 0 score, group 1's all fail, so only group 1 is
    sampled again with the forced reference prefix; the signal metrics describe the free round."""
    state: dict = {}

    def first_group_scores(prompts, completions, **kwargs):
        trainer = state["trainer"]
        free = trainer._forced is None and trainer.rho > 0
        return [1.0 if free and i < 2 else 0.0 for i in range(len(completions))]

    trainer = _trainer(
        tiny_model_dir,
        tmp_path,
        reward_funcs=[*get_reward_funcs(["format"]), first_group_scores],
        rho_max=0.5,
        steps=10,
        guidance="on_failure",
    )
    state["trainer"] = trainer
    batch, out = _rollouts(trainer)
    assert out["forced_mask"][:2].sum() == 0  # group 0 kept its free rollouts
    ref = trainer.processing_class.tokenizer(batch[2]["reference"], add_special_tokens=False)["input_ids"]
    k = prefix_length(0.5, len(ref))
    for i in (2, 3):  # group 1 was resampled under the constraint
        assert out["completion_ids"][i, :k].tolist() == ref[:k]
        assert out["forced_mask"][i].sum() == k
    metrics = trainer._metrics["train"]
    assert metrics["rcpa/guided_fraction"][-1] == 0.5
    assert metrics["signal/zero_variance_task"][-1] == 1.0  # both free groups tie (1,1 and 0,0)
    assert metrics["rcpa/forced_tokens"][-1] == pytest.approx(k / 2)
    # when every group fails, every group is guided, exactly as with guidance "always"
    trainer.reward_funcs = [
        trainer.reward_funcs[0],
        lambda prompts, completions, **kw: [0.0] * len(completions),
    ]
    _, out = _rollouts(trainer)
    assert metrics["rcpa/guided_fraction"][-1] == 1.0
    assert (out["forced_mask"].sum(dim=1) > 0).all()


def _loss_grad(trainer, out):
    """d loss / d per-token log-prob, for every completion position."""
    logps, entropies = trainer._policy_logps(trainer.model, out)
    leaf = logps.detach().clone().requires_grad_(True)
    trainer._policy_logps = lambda model, inputs: (leaf, entropies)
    loss = trainer._compute_loss(trainer.model, out)
    loss.backward()
    return leaf.grad


def test_forced_tokens_carry_no_grpo_gradient(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, rho_max=0.5, steps=10, imitation_weight=0.0)
    _, out = _rollouts(trainer)
    grad = _loss_grad(trainer, out)
    forced = out["forced_mask"].bool()
    assert forced.any()
    assert torch.all(grad[forced] == 0)
    generated = (out["completion_mask"].bool()) & ~forced
    assert grad[generated].abs().sum() > 0


def test_imitation_gradient_is_minus_lambda_over_forced_tokens(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, rho_max=0.5, steps=10, imitation_weight=2.0)
    _, out = _rollouts(trainer)
    grad = _loss_grad(trainer, out)
    forced = out["forced_mask"].bool()
    # lambda = 2.0 * rho / rho_max = 2.0 at step 0; NLL = -sum(logp) / n  =>  d/dlogp = -2 / n
    expected = torch.full_like(grad[forced], -2.0 / forced.sum().item())
    torch.testing.assert_close(grad[forced], expected)


def test_without_curriculum_the_loss_is_plain_grpo(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, steps=0, weighting="none")
    _, out = _rollouts(trainer)
    assert out["forced_mask"].sum() == 0 and trainer.rho == 0.0
    # perturb the "old" policy so the ratio and clipping are exercised, not just ratio == 1
    logps = trainer._policy_logps(trainer.model, out)[0].detach()
    out["old_per_token_logps"] = logps + 0.3 * torch.randn_like(logps)
    ours = trainer._compute_loss(trainer.model, out)
    theirs = GRPOTrainer._compute_loss(trainer, trainer.model, out)
    assert torch.allclose(ours, theirs, atol=1e-6), (ours.item(), theirs.item())


def test_reference_member_joins_each_group(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, rho_max=0.5, steps=10, constraint="reference_member")
    batch, out = _rollouts(trainer)
    tok = trainer.processing_class.tokenizer
    members = out["reference_member"].tolist()
    assert members == [False, True, False, True]  # the last rollout of each group of 2
    for i, row in enumerate(batch):
        n = int(out["forced_mask"][i].sum())
        if members[i]:
            ref = tok(row["reference"], add_special_tokens=False)["input_ids"]
            assert out["completion_ids"][i, : len(ref)].tolist() == ref and n == len(ref) + 1
        else:
            assert n == 0
    # the reference's tokens are trained by the policy gradient, not by imitation
    policy = trainer._policy_mask(out)
    assert torch.equal(policy, out["completion_mask"])


def test_zero_variance_signal_ignores_format_and_the_injected_reference(tiny_model_dir, tmp_path):
    """The reference member always beats the untrained policy on accuracy: TRL's total-reward
    fraction sees variance in every group, the task-reward signal over own rollouts sees none."""
    trainer = _trainer(
        tiny_model_dir,
        tmp_path,
        num_generations=4,
        reward_funcs=get_reward_funcs(["format", "accuracy"]),
        rho_max=1.0,
        steps=10,
        constraint="reference_member",
    )
    trainer.rho = 1.0  # a member in every group
    batch, out = _rollouts(trainer)
    metrics = trainer._metrics["train"]
    assert out["reference_member"].tolist() == [False, False, False, True]
    accuracy = trainer._trained_rewards()[:, list(trainer.reward_func_names).index("accuracy")]
    assert accuracy.tolist() == [0.0, 0.0, 0.0, 1.0]  # the tiny random policy never answers right
    assert metrics["frac_reward_zero_std"][-1] == 0.0  # the artefact: the reference row "has variance"
    assert metrics["signal/zero_variance_task"][-1] == 1.0  # the truth: the policy's own group collapsed
    assert metrics["signal/concept_rate"][-1] == 0.0  # scan "finding" answers are concepts; none named
    # the member's tokens never count as the policy's answer
    assert out["answer_mask"][3].sum() == 0


def test_graded_rewards_are_gated_at_the_moving_threshold(tiny_model_dir, tmp_path):
    trainer = _trainer(
        tiny_model_dir,
        tmp_path,
        steps=10,
        delta_min=0.3,
        delta_max=0.7,
        gated_rewards=["rouge_l", "findings_f1"],
    )
    rouge, cider = get_reward_funcs(["rouge_l", "cider"], similarity_threshold=0.5)

    def findings_f1(prompts, completions, **kwargs):  # a user's reward without a gate of its own
        return [0.2 if i % 2 == 0 else 0.9 for i in range(len(completions))]

    trainer = CurrvlRCPATrainer(
        model=trainer.model,
        processing_class=trainer.processing_class,
        reward_funcs=[rouge, cider, findings_f1],
        train_dataset=trainer.train_dataset,
        args=trainer.args,
    )
    own, wrapped = trainer.reward_funcs[0], trainer.reward_funcs[2]
    assert own is rouge and trainer.reward_funcs[1] is cider  # they gate themselves: not wrapped
    trainer.model.train()
    _rollouts(trainer)  # step 0: delta = 0.3, below rouge_l's own 0.5
    assert rouge.similarity_threshold == 0.5 and cider.similarity_threshold == 0.5
    trainer.state.global_step = 10  # delta = 0.7
    _rollouts(trainer)
    assert rouge.similarity_threshold == pytest.approx(0.7) and cider.similarity_threshold == 0.5
    assert wrapped(prompts=[None, None], completions=[None, None]) == [0.0, 0.9]


def _recipe(model_dir, out, **rcpa):
    return recipe_from_dict(
        {
            "method": "rcpa",
            "output_dir": str(out),
            "seed": 0,
            "model": {"name_or_path": str(model_dir)},
            "data": {"train": {"synthetic": "scan", "n": 8, "seed": 0}},
            "rewards": ["format", "accuracy", "tests.training.test_rcpa:length_reward"],
            "trainer": {
                "per_device_train_batch_size": 4,
                "num_generations": 2,
                "max_completion_length": 6,
                "learning_rate": 0.01,
                "max_steps": 4,
                "save_steps": 1,
                "report_to": "none",
            },
            "rcpa": rcpa,
        }
    )


class CrashAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


# familiarity: the accuracy signal is always >= 0, so progress rises by 0.5 after every step
FAMILIAR = {
    "progress": "familiarity",
    "familiarity_threshold": 0.0,
    "familiarity_window": 1,
    "familiarity_increment": 0.5,
    "ordering": "window",
    "window": 4,
}


def _rhos(out):
    return [h["rcpa/rho"] for h in json.loads((out / "log_history.json").read_text()) if "rcpa/rho" in h]


def test_both_phases_run_and_resume_after_a_kill(tiny_model_dir, tmp_path):
    straight = tmp_path / "straight"
    final = train(_recipe(tiny_model_dir, straight, **FAMILIAR))
    assert _rhos(straight) == [0.5, 0.25, 0.0, 0.0]  # pre-alignment, then plain GRPO
    history = json.loads((straight / "log_history.json").read_text())
    assert [("rcpa/imitation_loss" in h) for h in history if "rcpa/rho" in h] == [True, True, False, False]
    assert all("frac_reward_zero_std" in h and "rcpa/grpo_loss" in h for h in history if "rcpa/rho" in h)
    assert json.loads((straight / "checkpoint-2" / STATE_FILE).read_text())["value"] == 1.0

    crashed = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        train(_recipe(tiny_model_dir, crashed, **FAMILIAR), callbacks=[CrashAt(1)])
    resumed = train(_recipe(tiny_model_dir, crashed, **FAMILIAR), resume=True)
    assert _rhos(crashed) == _rhos(straight)
    a, b = load_file(str(final / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)


def test_rcpa_settings_are_checked(tiny_model_dir, tmp_path):
    with pytest.raises(RecipeError, match=r"rcpa.schedule: must be one of"):
        _recipe(tiny_model_dir, tmp_path / "a", schedule="cosin")
    with pytest.raises(RecipeError, match="did you mean 'rcpa.rho_max'"):
        _recipe(tiny_model_dir, tmp_path / "b", rho_mx=0.5)
    with pytest.raises(RecipeError, match="need method 'rcpa'"):
        recipe_from_dict(
            {
                "method": "grpo",
                "model": {"name_or_path": "m"},
                "data": {"train": "x.jsonl"},
                "rcpa": {"steps": 3},
            }
        )


def test_dynamic_sampling_runs_under_rcpa_in_both_phases(tiny_model_dir, tmp_path):
    recipe = _recipe(tiny_model_dir, tmp_path / "ds", **FAMILIAR)
    recipe.rollout.dynamic_sampling = DynamicSamplingConfig(max_rounds=1)
    train(recipe)
    history = [h for h in json.loads((tmp_path / "ds" / "log_history.json").read_text()) if "rcpa/rho" in h]
    assert [h["rcpa/rho"] for h in history] == [0.5, 0.25, 0.0, 0.0]  # the curriculum is unchanged
    assert all("dynamic_sampling/rounds" in h and "rcpa/grpo_loss" in h for h in history)
    assert any(h["dynamic_sampling/rounds"] > 0 for h in history)


def test_cdp_difficulty_comes_from_the_task_reward_alone(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, num_generations=2, weighting="linear", weight_alpha=1.0)
    names = list(trainer.reward_func_names)
    assert names[:2] == ["format", "accuracy"]
    # two groups, both all wrong; only the first is well formatted
    rewards = torch.zeros(4, len(names))
    rewards[:2, 0] = 1.0
    trainer._rewards = (rewards, rewards)
    out: dict = {}
    trainer._add_cdp_weights(out, local_rows=4)
    assert torch.allclose(out["cdp_weights"], torch.ones(4))  # equally hard: the format does not count
    rewards[2:, 1] = 1.0  # the second group now solves the task
    trainer._add_cdp_weights(out, local_rows=4)
    w = out["cdp_weights"]
    assert w[0] == w[1] and w[2] == w[3] and w[0] > w[2]  # linear: harder queries weigh more


def graded_reward(prompts, completions, **kwargs):
    """A graded task reward in [0, 1], like findings F1 or CIDEr on reports."""
    return [0.5 for _ in completions]


def test_familiarity_signal_is_the_task_reward_without_format_or_reference_rows(tiny_model_dir, tmp_path):
    """Reports have no accuracy reward: familiarity reads the graded task rewards (format left out),
    as a fraction of their maximum, over the policy's own rollouts (a reference member left out)."""
    trainer = _trainer(
        tiny_model_dir,
        tmp_path,
        reward_funcs=[*get_reward_funcs(["format"]), graded_reward, length_reward],
        progress="familiarity",
    )
    names = list(trainer.reward_func_names)
    assert names == ["format", "graded_reward", "length_reward"]
    rewards = torch.tensor(
        [[1.0, 0.5, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 2.0]]  # last row: the reference
    )
    trainer._rewards = (rewards, rewards)
    members = torch.tensor([False, False, False, True])
    # own rows' task rewards 1.5, 0.0, 2.0 (format ignored) over a maximum of 2 (two task rewards)
    assert trainer._familiarity_reward(members) == pytest.approx((1.5 + 0.0 + 2.0) / 3 / 2)
    assert trainer._familiarity_reward(torch.zeros(4, dtype=torch.bool)) == pytest.approx(
        (1.5 + 0.0 + 2.0 + 3.0) / 4 / 2
    )


class _SeeStepStart(TrainerCallback):
    """Runs after the RCPA phase callback: the learning rate and optimiser state each step starts with."""

    def __init__(self, trainer):
        self.trainer, self.seen = trainer, []

    def on_step_begin(self, args, state, control, **kwargs):
        opt = self.trainer.optimizer
        self.seen.append((state.global_step, opt.param_groups[0]["lr"], len(opt.state)))
        return control


@pytest.mark.parametrize("reset", [False, True])
def test_the_prealignment_rate_and_optimiser_state_apply_only_in_their_phase(tiny_model_dir, tmp_path, reset):
    """rcpa.steps = 2: steps 0-1 pre-align at the pre-alignment rate, step 2 hands off to free GRPO at
    the trainer's rate; with reset_optimizer_at_handoff the RL phase starts from an empty optimiser
    state (without it, the imitation's Adam moments carry over)."""
    trainer = _trainer(
        tiny_model_dir,
        tmp_path,
        steps=2,
        rho_max=0.5,
        prealign_learning_rate=0.5,
        reset_optimizer_at_handoff=reset,
    )
    trainer.args.max_steps = 4
    trainer.args.lr_scheduler_type = "constant"
    watch = _SeeStepStart(trainer)
    trainer.add_callback(watch)
    trainer.train()
    lrs = [(step, lr) for step, lr, _ in watch.seen]
    assert lrs == [
        (0, pytest.approx(0.5)),
        (1, pytest.approx(0.5)),
        (2, pytest.approx(0.05)),
        (3, pytest.approx(0.05)),
    ]
    states = {step: n for step, _, n in watch.seen}
    assert states[1] > 0  # Adam's moments exist after the first step
    assert (states[2] == 0) is reset  # the hand-off clears them only when asked
    assert states[3] > 0
    assert trainer.progress.handoff_step == 2
    logged = [h["rcpa/learning_rate"] for h in trainer.state.log_history if "rcpa/learning_rate" in h]
    assert logged == pytest.approx([0.5, 0.5, 0.05, 0.05])


def test_per_rollout_prefixes_differ_within_a_group_and_carry_no_policy_gradient(tiny_model_dir, tmp_path):
    """UFT-style: each rollout draws its own prefix length k ~ U[0, ceil(rho L)], so a group holds
    rollouts that write more of the answer themselves; the forced tokens still get no GRPO gradient."""
    trainer = _trainer(
        tiny_model_dir,
        tmp_path,
        num_generations=4,
        rho_max=1.0,
        steps=10,
        imitation_weight=0.0,
        per_rollout_prefix=True,
    )
    batch, out = _rollouts(trainer)
    tok = trainer.processing_class.tokenizer
    lengths = out["forced_mask"].sum(dim=1).tolist()
    groups = [lengths[g : g + 4] for g in range(0, len(lengths), 4)]
    assert any(len(set(g)) > 1 for g in groups), groups  # lengths differ inside a group
    for i, row in enumerate(batch):  # each forced part is a prefix of the reference, never longer
        ref = tok(row["reference"], add_special_tokens=False)["input_ids"]
        k = int(lengths[i])
        assert k <= prefix_length(1.0, len(ref)) and out["completion_ids"][i, :k].tolist() == ref[:k]
    grad = _loss_grad(trainer, out)
    forced = out["forced_mask"].bool()
    assert forced.any() and torch.all(grad[forced] == 0)
    assert grad[out["completion_mask"].bool() & ~forced].abs().sum() > 0


@pytest.mark.parametrize(("signal", "expected"), [("reward", 1.0), ("continuation_reward", 0.25)])
def test_familiarity_from_the_continuation_ignores_what_the_prefix_already_said(
    tiny_model_dir, tmp_path, signal, expected
):
    """A forced prefix that holds the answer makes the full answer score; "continuation_reward" reads
    only what the policy generated after it (reward_scope full: the advantages still use the full)."""
    trainer = _trainer(
        tiny_model_dir,
        tmp_path,
        reward_funcs=[*get_reward_funcs(["format"]), graded_reward],
        progress="familiarity",
        familiarity_signal=signal,
    )
    full = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    continuation = torch.tensor([[1.0, 0.5], [1.0, 0.0]])
    trainer._rewards = (full, continuation)
    assert trainer._familiarity_reward(torch.zeros(2, dtype=torch.bool)) == pytest.approx(expected)


def test_guidance_shortest_keeps_the_shortest_prefix_that_earned_a_reward(tiny_model_dir, tmp_path):
    """Hint-GRPO's ladder: group 0 pays freely and keeps its free rollouts; group 1 pays only once at
    least half of rho's prefix is forced, so it keeps the rollouts of rung 2 of 4 (not 1, not 4)."""
    state: dict = {}

    def pays_from_half_the_prefix(prompts, completions, **kwargs):
        trainer = state["trainer"]
        free = trainer._forced is None
        return [
            1.0 if (free and i < 2) or (not free and trainer._hint_scale >= 0.5) else 0.0
            for i in range(len(completions))
        ]

    trainer = _trainer(
        tiny_model_dir,
        tmp_path,
        reward_funcs=[*get_reward_funcs(["format"]), pays_from_half_the_prefix],
        rho_max=0.8,
        steps=10,
        guidance="shortest",
        hint_levels=4,
    )
    state["trainer"] = trainer
    batch, out = _rollouts(trainer)
    assert out["forced_mask"][:2].sum() == 0  # group 0 kept its free rollouts
    ref = trainer.processing_class.tokenizer(batch[2]["reference"], add_special_tokens=False)["input_ids"]
    k = prefix_length(0.8 * 2 / 4, len(ref))
    assert 0 < k < prefix_length(0.8, len(ref))
    for i in (2, 3):
        assert out["completion_ids"][i, :k].tolist() == ref[:k]
        assert out["forced_mask"][i].sum() == k
    metrics = trainer._metrics["train"]
    assert metrics["rcpa/guided_fraction"][-1] == 0.5
    assert metrics["rcpa/hint_scale"][-1] == pytest.approx((0 + 0.5) / 2)
    # a group that never pays climbs to the last rung: the full rho prefix, as with on_failure
    trainer.reward_funcs = [
        trainer.reward_funcs[0],
        lambda prompts, completions, **kw: [0.0] * len(completions),
    ]
    batch, out = _rollouts(trainer)
    assert metrics["rcpa/hint_scale"][-1] == 1.0
    tok = trainer.processing_class.tokenizer
    for i, row in enumerate(batch):
        full = prefix_length(0.8, len(tok(row["reference"], add_special_tokens=False)["input_ids"]))
        assert out["forced_mask"][i].sum() == full


def test_hint_levels_must_be_positive():
    with pytest.raises(ValueError, match="hint_levels"):
        RCPAConfig(guidance="shortest", hint_levels=0)
