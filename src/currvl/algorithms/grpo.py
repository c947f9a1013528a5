"""GRPO math as plain tensor functions: group advantages, clipped surrogate, k3 KL, loss aggregation.

Why our own module: Curr-ReFT and RCPA modify exactly these pieces (prefix masks, per-sample weights,
stage-wise references), and TRL's versions live in private methods that change between releases.
Everything here is TRL-1.16-compatible and checked against TRL by a parity test.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")
SCALE_REWARDS = ("group", "batch", "none")


def _nanstd(x: torch.Tensor, dim: int | None = None, keepdim: bool = False) -> torch.Tensor:
    """Unbiased std ignoring NaNs (torch.std is unbiased too, as in the GRPO papers' code)."""
    mean = torch.nanmean(x, dim=dim, keepdim=True)
    sq = (x - mean) ** 2
    count = (~torch.isnan(x)).sum(dim=dim, keepdim=keepdim)
    var = torch.nansum(sq, dim=dim, keepdim=keepdim) / (count - 1).clamp(min=1)
    return var.sqrt()


def group_advantages(
    rewards: torch.Tensor, num_generations: int, scale_rewards: str = "group", eps: float = 1e-4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages A_i = (r_i - mean_group) / (std + eps) for rewards laid out group after group.

    NaN rewards (unscorable completions) are left out of the group mean/std and get advantage 0.
    Returns (advantages, is_std_zero) where is_std_zero flags completions whose group rewards all tie:
    the groups that carry no learning signal (the "collapse" Curr-ReFT and RCPA fight).
    """
    if scale_rewards not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards must be one of {SCALE_REWARDS}, got {scale_rewards!r}")
    grouped = rewards.view(-1, num_generations)
    mean = torch.nanmean(grouped, dim=1).repeat_interleave(num_generations)
    if scale_rewards == "batch":
        std = _nanstd(rewards).expand_as(rewards) if rewards.numel() > 1 else torch.zeros_like(rewards)
    elif num_generations > 1:
        std = _nanstd(grouped, dim=1).repeat_interleave(num_generations)
    else:
        std = torch.zeros_like(rewards)
    advantages = rewards - mean
    if scale_rewards != "none":
        advantages = advantages / (std + eps)
    is_std_zero = torch.isclose(std, torch.zeros_like(std))
    return torch.nan_to_num(advantages, nan=0.0), is_std_zero


def k3_kl(per_token_logps: torch.Tensor, ref_per_token_logps: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(pi || ref): exp(ref - logp) - (ref - logp) - 1, always >= 0."""
    diff = ref_per_token_logps - per_token_logps
    return torch.exp(diff) - diff - 1


@dataclass
class GRPOLossConfig:
    loss_type: str = "dapo"
    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    delta: float | None = None  # upper clamp of the ratio (two-sided clipping)
    beta: float = 0.0  # KL weight; 0 disables the reference model
    importance_sampling_level: str = "token"  # or "sequence" (GSPO)
    use_bias_correction_kl: bool = False
    max_completion_length: int | None = None  # needed by dr_grpo

    def __post_init__(self) -> None:
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {self.loss_type!r}")
        if self.importance_sampling_level not in ("token", "sequence"):
            raise ValueError("importance_sampling_level must be 'token' or 'sequence'")
        if self.loss_type == "dr_grpo" and not self.max_completion_length:
            raise ValueError("loss_type 'dr_grpo' needs max_completion_length")


@dataclass
class GRPOLossOutput:
    loss: torch.Tensor
    per_token_loss: torch.Tensor
    coef_1: torch.Tensor  # importance ratio, (B, T) or (B, 1)
    per_token_kl: torch.Tensor | None


def clipped_policy_loss(
    per_token_logps: torch.Tensor,
    old_per_token_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cfg: GRPOLossConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO-style clipped surrogate per token: -min(r*A, clip(r, 1-eps_low, 1+eps_high)*A)."""
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    log_ratio = per_token_logps - old_per_token_logps
    if cfg.importance_sampling_level == "sequence":
        log_ratio = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1)
    coef_1 = torch.exp(log_ratio)
    coef_2 = torch.clamp(coef_1, 1 - cfg.epsilon_low, 1 + cfg.epsilon_high)
    if cfg.delta is not None:
        coef_1 = torch.clamp(coef_1, max=cfg.delta)
    per_token_loss = -torch.min(coef_1 * advantages, coef_2 * advantages)
    return per_token_loss, coef_1


def aggregate_loss(
    per_token_loss: torch.Tensor,
    mask: torch.Tensor,
    loss_type: str,
    *,
    max_completion_length: int | None = None,
    num_items: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Reduce per-token losses to a scalar.

    grpo: mean over each sequence's tokens, then over sequences (length-biased, the original GRPO).
    bnpo: sum over tokens / active tokens in this batch.  dr_grpo: sum / (B * max_completion_length).
    dapo: sum / `num_items` (active tokens of the whole accumulation window; defaults to this batch's).
    """
    masked = per_token_loss * mask
    if loss_type == "grpo":
        return (masked.sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return masked.sum() / mask.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        if not max_completion_length:
            raise ValueError("dr_grpo needs max_completion_length")
        return masked.sum() / (per_token_loss.size(0) * max_completion_length)
    if loss_type == "dapo":
        denom = mask.sum() if num_items is None else torch.as_tensor(num_items, dtype=masked.dtype)
        return masked.sum() / denom.clamp(min=1.0)
    raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")


def grpo_loss(
    per_token_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cfg: GRPOLossConfig,
    *,
    old_per_token_logps: torch.Tensor | None = None,
    ref_per_token_logps: torch.Tensor | None = None,
    num_items: torch.Tensor | float | None = None,
    sample_weights: torch.Tensor | None = None,
    weight_kl: bool = False,
    token_scale: torch.Tensor | None = None,
) -> GRPOLossOutput:
    """The full GRPO objective on one micro-batch (before gradient-accumulation scaling).

    `old_per_token_logps` None means on-policy (ratio 1, gradient = policy gradient).
    `sample_weights` (B,) multiplies each sequence's policy loss (RCPA's difficulty weights); the KL term
    too only with `weight_kl` (a query's difficulty says how much to learn from it, not how far the
    policy may drift from the reference on it).
    `token_scale` (B, T) multiplies per-token policy losses (e.g. vLLM importance-sampling correction).
    """
    old = per_token_logps.detach() if old_per_token_logps is None else old_per_token_logps
    per_token_loss, coef_1 = clipped_policy_loss(per_token_logps, old, advantages, mask, cfg)
    if token_scale is not None:
        per_token_loss = per_token_loss * token_scale
    weights = None if sample_weights is None else sample_weights.unsqueeze(-1)
    if weights is not None and not weight_kl:
        per_token_loss = per_token_loss * weights
    per_token_kl = None
    if cfg.beta != 0.0:
        if ref_per_token_logps is None:
            raise ValueError("beta != 0 needs ref_per_token_logps")
        per_token_kl = k3_kl(per_token_logps, ref_per_token_logps)
        if cfg.use_bias_correction_kl:
            per_token_kl = per_token_kl * coef_1
        per_token_loss = per_token_loss + cfg.beta * per_token_kl
    if weights is not None and weight_kl:
        per_token_loss = per_token_loss * weights
    loss = aggregate_loss(
        per_token_loss,
        mask,
        cfg.loss_type,
        max_completion_length=cfg.max_completion_length,
        num_items=num_items,
    )
    return GRPOLossOutput(loss=loss, per_token_loss=per_token_loss, coef_1=coef_1, per_token_kl=per_token_kl)
