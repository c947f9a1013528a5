"""RCPA (reinforced curriculum pre-alignment) as plain functions: prefix schedule, familiarity rule,
reward threshold, difficulty weights and ordering, and the imitation loss on forced tokens.

Pre-alignment forces the first ceil(rho * L) tokens of each rollout from the reference answer (L
tokens) and lets the policy write the rest; GRPO trains the written tokens, an NLL term imitates the
forced ones. The progress p in [0, 1] drives rho = rho_max * f(1 - p) down to 0, after which training
is plain GRPO (reinforcement alignment). Every choice the paper leaves open is a knob of `RCPAConfig`,
its default the choice README's RCPA section explains.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch

from currvl.algorithms.signals import own_scored_rows

SCHEDULES = ("linear", "cosine", "step")
PROGRESS = ("steps", "familiarity")
FAMILIARITY_SIGNALS = ("reward", "continuation_reward", "likelihood")
CONSTRAINTS = ("prefix", "reference_member")
GUIDANCE = ("always", "on_failure", "shortest")
WEIGHTINGS = ("none", "gaussian", "linear")
ORDERINGS = ("none", "easy_to_hard", "window")
REWARD_SCOPES = ("full", "continuation")


@dataclass
class RCPAConfig:
    """The `rcpa:` section of a recipe."""

    steps: int = 100  # S: pre-alignment length in optimiser steps (progress "steps"); 0 = plain GRPO
    rho_max: float = 0.5  # prefix ratio at the start
    schedule: str = "linear"  # how rho falls with progress: linear, cosine, or step (`levels` plateaus)
    levels: int = 4
    offset: int = 0  # tokens taken off every prefix
    per_rollout_prefix: bool = False  # True: k ~ U[0, ceil(rho L)] per rollout (variance inside a group)
    constraint: str = "prefix"  # or "reference_member": the reference itself joins each group
    # Which groups are constrained: every one ("always", the spec), or only groups whose free rollouts
    # all fail on the task reward ("on_failure", as BREAD and Guide-GRPO do): each step samples freely
    # first and resamples the failed groups under the constraint of the current rho.
    # "shortest" (Hint-GRPO): as on_failure, up a ladder of prefix ratios rho * j / hint_levels (j = 1 ..
    # hint_levels): a group keeps the rollouts of the shortest prefix at which one of them earned a
    # task reward (the full rho prefix when none did), so its rollouts write as much as they can.
    guidance: str = "always"
    hint_levels: int = 4
    # Progress driven by familiarity instead of steps: p rises by `familiarity_increment` each time
    # the windowed mean of the signal reaches `familiarity_threshold` (then the window starts over).
    progress: str = "steps"
    # "reward": the rollouts' mean task reward (all but format) over its maximum, e.g. accuracy, or
    # findings F1 + CIDEr for reports, on what the advantages use (reward_scope); "continuation_reward":
    # the same on the generated part alone, so a prefix that already holds the answer does not count as
    # familiarity; "likelihood": the mean probability of the forced reference tokens
    familiarity_signal: str = "reward"
    familiarity_threshold: float = 0.5
    familiarity_window: int = 5
    familiarity_increment: float = 0.25
    imitation_weight: float = 1.0  # lambda_0; lambda follows rho (fades out with the prefix); 0 = off
    # Reward threshold of graded rewards: scores below delta count 0; delta rises from min to max with p.
    delta_min: float = 0.0
    delta_max: float = 0.0
    gated_rewards: list[str] = field(default_factory=lambda: ["rouge_l", "cider", "findings_f1"])
    reward_scope: str = "full"  # score prefix + continuation (default) or the continuation alone
    # Curriculum difficulty perception: per-query loss weights from the rollouts' own task rewards
    # (format rewards left out: a well-formatted wrong answer is not "medium difficulty") ...
    weighting: str = "gaussian"
    weight_mu: float = 0.5
    weight_sigma: float = 0.25
    weight_alpha: float = 1.0
    weight_kl: bool = False  # True: the weights scale the KL term too (off: they scale the policy term)
    # ... and/or a data order by the base model's difficulty, scored before training.
    ordering: str = "none"
    window: int = 32  # "window": easy-to-hard, shuffled inside consecutive windows of this many samples
    # The pre-alignment phase's own optimisation, apart from the RL phase's (the paper runs both at one
    # rate with one optimiser; at an RL rate such as 2e-5 its imitation is SFT at a twenty-fifth of
    # SFT's rate). prealign_learning_rate: the rate while rho > 0, on the trainer's schedule (None:
    # the trainer's learning_rate); reset_optimizer_at_handoff: the RL phase starts from a fresh
    # optimiser state (Adam moments), not the imitation's.
    prealign_learning_rate: float | None = None
    reset_optimizer_at_handoff: bool = False

    def __post_init__(self) -> None:
        checks = {
            "schedule": (self.schedule, SCHEDULES),
            "progress": (self.progress, PROGRESS),
            "familiarity_signal": (self.familiarity_signal, FAMILIARITY_SIGNALS),
            "constraint": (self.constraint, CONSTRAINTS),
            "guidance": (self.guidance, GUIDANCE),
            "weighting": (self.weighting, WEIGHTINGS),
            "ordering": (self.ordering, ORDERINGS),
            "reward_scope": (self.reward_scope, REWARD_SCOPES),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name}: must be one of {allowed}, got {value!r}")
        if not 0.0 <= self.rho_max <= 1.0:
            raise ValueError(f"rho_max: must be in [0, 1], got {self.rho_max}")
        if self.steps < 0 or min(self.levels, self.hint_levels, self.familiarity_window, self.window) < 1:
            raise ValueError("steps must be >= 0; levels, hint_levels, familiarity_window and window >= 1")
        if not 0.0 < self.familiarity_increment <= 1.0:
            raise ValueError(f"familiarity_increment: must be in (0, 1], got {self.familiarity_increment}")
        if not 0.0 <= self.delta_min <= self.delta_max <= 1.0:
            raise ValueError(f"need 0 <= delta_min <= delta_max <= 1, got {self.delta_min}, {self.delta_max}")
        if self.weight_sigma <= 0:
            raise ValueError(f"weight_sigma: must be > 0, got {self.weight_sigma}")
        if self.prealign_learning_rate is not None and self.prealign_learning_rate <= 0:
            raise ValueError(f"prealign_learning_rate: must be > 0, got {self.prealign_learning_rate}")


# --- CPP: progress, prefix ratio, imitation weight, reward threshold --------------------------------


def step_progress(step: int, total: int) -> float:
    """p_t = clip(t / S, 0, 1); S = 0 means no pre-alignment at all."""
    return 1.0 if total <= 0 else min(max(step / total, 0.0), 1.0)


def prefix_ratio(progress: float, cfg: RCPAConfig) -> float:
    """rho(p): rho_max at p = 0, exactly 0 at p = 1, never increasing."""
    p = min(max(progress, 0.0), 1.0)
    if p >= 1.0:
        return 0.0
    if cfg.schedule == "linear":
        frac = 1.0 - p
    elif cfg.schedule == "cosine":
        frac = 0.5 * (1.0 + math.cos(math.pi * p))
    else:  # step: `levels` plateaus of equal length
        frac = 1.0 - math.floor(p * cfg.levels) / cfg.levels
    return cfg.rho_max * frac


def prefix_length(rho: float, length: int, offset: int = 0) -> int:
    """k = ceil(rho * L) - offset, within [0, L]."""
    return min(max(math.ceil(rho * length - 1e-9) - offset, 0), length)


def imitation_weight(rho: float, cfg: RCPAConfig) -> float:
    """lambda = lambda_0 * rho / rho_max: the imitation term fades out together with the prefix."""
    return 0.0 if cfg.rho_max == 0 else cfg.imitation_weight * rho / cfg.rho_max


def reward_threshold(progress: float, cfg: RCPAConfig) -> float:
    """delta(p) = delta_min + (delta_max - delta_min) p: lenient early (groups keep variance), strict late."""
    p = min(max(progress, 0.0), 1.0)
    return cfg.delta_min + (cfg.delta_max - cfg.delta_min) * p


@dataclass
class Progress:
    """Curriculum progress p, by steps or by familiarity; its state goes into every checkpoint."""

    cfg: RCPAConfig
    value: float = 0.0
    step: int = 0
    advances: list[int] = field(default_factory=list)  # steps at which familiarity raised p
    handoff_step: int | None = None  # the first step with rho = 0: pre-alignment over, free GRPO on
    _window: deque = field(default_factory=deque, repr=False)

    def at_step(self, step: int) -> float:
        """p for the rollouts of step `step` (steps mode recomputes it; familiarity mode keeps it)."""
        if self.cfg.progress == "steps":
            self.value = step_progress(step, self.cfg.steps)
        return self.value

    def record(self, step: int, signal: float | None) -> bool:
        """Feed one step's familiarity signal; True when p advanced. No-op in steps mode."""
        self.step = step
        if self.cfg.progress != "familiarity" or signal is None or self.value >= 1.0:
            return False
        if self.cfg.steps == 0:
            self.value = 1.0
            return False
        self._window.append(float(signal))
        while len(self._window) > self.cfg.familiarity_window:
            self._window.popleft()
        full = len(self._window) == self.cfg.familiarity_window
        if full and sum(self._window) / len(self._window) >= self.cfg.familiarity_threshold:
            self.value = min(1.0, round(self.value + self.cfg.familiarity_increment, 10))
            self.advances.append(step)
            self._window.clear()  # the next level must be passed on its own
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "step": self.step,
            "advances": list(self.advances),
            "window": list(self._window),
            "handoff_step": self.handoff_step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])
        self.step = int(state["step"])
        self.advances = list(state["advances"])
        self._window = deque(state["window"])
        self.handoff_step = state.get("handoff_step")  # absent from checkpoints written before it


def failed_groups(
    task_rewards: torch.Tensor, group_size: int, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """(groups,) bool: True where every counted rollout of the group scores <= 0 on the task reward.

    `task_rewards` is (groups * group_size,), groups contiguous. Rows in `exclude` (injected
    references) and unscorable rows (NaN) do not count; a group with no counted row has not failed
    (there is nothing a constraint could fix).
    """
    counted = own_scored_rows(task_rewards, group_size, exclude)
    scored = torch.where(counted, task_rewards.view(-1, group_size), -torch.inf)
    return counted.any(dim=1) & (scored.max(dim=1).values <= 0)


# --- losses -----------------------------------------------------------------------------------------


def imitation_nll(per_token_logps: torch.Tensor, forced_mask: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the forced (reference) tokens over the batch; 0 without any."""
    mask = forced_mask.to(per_token_logps.dtype)
    return -(per_token_logps * mask).sum() / mask.sum().clamp(min=1.0)


# --- CDP: difficulty weights and ordering -----------------------------------------------------------


def difficulty_weights(
    rewards: torch.Tensor, num_generations: int, cfg: RCPAConfig, max_reward: float = 1.0
) -> torch.Tensor:
    """Per-rollout loss weights from the group's difficulty d = 1 - mean(r) / max_reward, batch mean 1.

    gaussian: exp(-(d - mu)^2 / (2 sigma^2)), favouring queries of medium difficulty (mastered ones fade);
    linear: 1 + alpha d, favouring hard ones. NaN (unscorable) rewards are left out of the mean.
    """
    if cfg.weighting == "none":
        return torch.ones_like(rewards)
    grouped = rewards.view(-1, num_generations)
    mean = torch.nanmean(grouped, dim=1)
    d = (1.0 - torch.nan_to_num(mean, nan=0.0) / max_reward).clamp(0.0, 1.0)
    if cfg.weighting == "gaussian":
        w = torch.exp(-((d - cfg.weight_mu) ** 2) / (2 * cfg.weight_sigma**2))
    else:
        w = 1.0 + cfg.weight_alpha * d
    w = w / w.mean().clamp(min=1e-8)
    return w.repeat_interleave(num_generations)


def difficulty_order(difficulties: list[float], mode: str, window: int = 32, seed: int = 0) -> list[int]:
    """Sample indices in training order: easiest first ("easy_to_hard"), or easy-to-hard with the
    order shuffled inside consecutive windows ("window", a moving difficulty window). Deterministic:
    ties break by index, the shuffle by `seed`."""
    if mode not in ORDERINGS:
        raise ValueError(f"ordering must be one of {ORDERINGS}, got {mode!r}")
    if mode == "none":
        return list(range(len(difficulties)))
    order = sorted(range(len(difficulties)), key=lambda i: (difficulties[i], i))
    if mode == "window":
        rng = random.Random(seed)
        chunks = [order[i : i + window] for i in range(0, len(order), window)]
        for chunk in chunks:
            rng.shuffle(chunk)
        order = [i for chunk in chunks for i in chunk]
    return order
