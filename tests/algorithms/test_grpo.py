"""GRPO math against hand-computed values."""

import math

import pytest
import torch

from currvl.algorithms.grpo import GRPOLossConfig, aggregate_loss, group_advantages, grpo_loss, k3_kl


def test_group_advantages_hand_computed():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0])
    adv, zero = group_advantages(rewards, num_generations=4)
    std = math.sqrt(1 / 3)  # unbiased std of [1, 0, 0, 1]
    expected = torch.tensor([0.5, -0.5, -0.5, 0.5]) / (std + 1e-4)
    assert torch.allclose(adv[:4], expected, atol=1e-6)
    assert torch.equal(adv[4:], torch.zeros(4))  # tied group: no signal
    assert zero.tolist() == [False] * 4 + [True] * 4


def test_group_advantages_no_scaling_and_batch_scaling():
    rewards = torch.tensor([3.0, 1.0, 0.0, 0.0])
    adv, _ = group_advantages(rewards, 2, scale_rewards="none")
    assert adv.tolist() == [1.0, -1.0, 0.0, 0.0]
    adv_b, _ = group_advantages(rewards, 2, scale_rewards="batch")
    batch_std = torch.tensor([3.0, 1.0, 0.0, 0.0]).std()
    assert torch.allclose(adv_b, torch.tensor([1.0, -1.0, 0.0, 0.0]) / (batch_std + 1e-4))


def test_unscorable_reward_is_left_out_of_the_baseline():
    rewards = torch.tensor([1.0, float("nan"), 0.0, 0.0])
    adv, _ = group_advantages(rewards, 4, scale_rewards="none")
    # mean over the three scorable rewards is 1/3; the NaN one gets advantage 0
    assert torch.allclose(adv, torch.tensor([2 / 3, 0.0, -1 / 3, -1 / 3]))


def test_k3_kl_values():
    logp = torch.tensor([math.log(0.5)])
    ref = torch.tensor([math.log(0.25)])
    # r = ref/p = 0.5 -> 0.5 - log(0.5) - 1
    assert torch.allclose(k3_kl(logp, ref), torch.tensor([0.5 - math.log(0.5) - 1]))
    assert k3_kl(ref, ref).item() == 0.0


def test_aggregations_hand_computed():
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    assert aggregate_loss(per_token, mask, "grpo").item() == pytest.approx((2.0 + 4.0) / 2)
    assert aggregate_loss(per_token, mask, "bnpo").item() == pytest.approx(10.0 / 4)
    assert aggregate_loss(per_token, mask, "dr_grpo", max_completion_length=5).item() == pytest.approx(
        10.0 / 10
    )
    assert aggregate_loss(per_token, mask, "dapo", num_items=8).item() == pytest.approx(10.0 / 8)


def test_on_policy_loss_gradient_is_minus_advantage_times_grad_logp():
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    adv = torch.tensor([2.0])
    mask = torch.ones(1, 2)
    out = grpo_loss(logp, adv, mask, GRPOLossConfig(loss_type="bnpo"))
    assert out.loss.item() == pytest.approx(-2.0)  # ratio 1: -A
    out.loss.backward()
    assert torch.allclose(logp.grad, torch.tensor([[-1.0, -1.0]]))  # -A / n_tokens


def test_clipping_stops_gradient_beyond_the_trust_region():
    old = torch.tensor([[0.0]])
    logp = torch.tensor([[math.log(1.5)]], requires_grad=True)  # ratio 1.5 > 1.2
    out = grpo_loss(
        logp, torch.tensor([1.0]), torch.ones(1, 1), GRPOLossConfig(loss_type="bnpo"), old_per_token_logps=old
    )
    assert out.loss.item() == pytest.approx(-1.2)
    out.loss.backward()
    assert logp.grad.abs().item() == 0.0


def test_kl_term_and_sample_weights():
    logp = torch.tensor([[math.log(0.5)]])
    ref = torch.tensor([[math.log(0.25)]])
    cfg = GRPOLossConfig(loss_type="bnpo", beta=0.1)
    out = grpo_loss(logp, torch.tensor([0.0]), torch.ones(1, 1), cfg, ref_per_token_logps=ref)
    assert out.loss.item() == pytest.approx(0.1 * (0.5 - math.log(0.5) - 1))
    kl = 0.1 * (0.5 - math.log(0.5) - 1)
    advantage = torch.tensor([1.0])  # on-policy: the policy term is -A per token
    kwargs = dict(ref_per_token_logps=ref, sample_weights=torch.tensor([2.0]))
    policy_only = grpo_loss(logp, advantage, torch.ones(1, 1), cfg, **kwargs)
    assert policy_only.loss.item() == pytest.approx(2 * -1.0 + kl)  # the KL term is not weighted
    both = grpo_loss(logp, advantage, torch.ones(1, 1), cfg, weight_kl=True, **kwargs)
    assert both.loss.item() == pytest.approx(2 * (-1.0 + kl))


def test_config_rejects_unknown_loss_type():
    with pytest.raises(ValueError, match="loss_type"):
        GRPOLossConfig(loss_type="ppo")
