"""RCPA trainer: currvl's GRPO trainer with partial output constraints driven by a curriculum.

Generation stays TRL's (transformers or vLLM): the forced reference prefix is appended to the prompt
tokens (a prefilled assistant turn) and put back in front of the generated tokens, so rewards score
the full answer while a `forced_mask` keeps those tokens out of the policy gradient and in the
imitation (NLL) term. With rho = 0 the step is exactly the parent's GRPO step.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from currvl.algorithms.dynamic_sampling import rows_of_groups
from currvl.algorithms.rcpa import (
    Progress,
    RCPAConfig,
    difficulty_weights,
    failed_groups,
    imitation_nll,
    imitation_weight,
    prefix_length,
    prefix_ratio,
    reward_threshold,
)
from currvl.algorithms.signals import task_reward, task_reward_columns
from currvl.rewards.guard import RewardWrapper
from currvl.rewards.similarity_rewards import gate
from currvl.training.datasets import REFERENCE_COLUMN
from currvl.training.grpo import CurrvlGRPOTrainer
from currvl.training.rollout_batch import concat_batches, select_rows
from currvl.training.trainer_configs import CurrvlRCPAConfig

log = logging.getLogger(__name__)

STATE_FILE = "rcpa_state.json"


class ThresholdGatedReward(RewardWrapper):
    """Gates a graded reward that has no threshold of its own (a user's function named in
    `rcpa.gated_rewards`) at the trainer's current delta. currvl's similarity rewards gate themselves:
    the trainer moves their `similarity_threshold` instead."""

    def __init__(self, func, trainer: CurrvlRCPATrainer) -> None:
        super().__init__(func)
        self.trainer = trainer

    def __call__(self, prompts=None, completions=None, **kwargs) -> list[float | None]:
        delta = self.trainer.delta
        return [gate(s, delta) for s in self._func(prompts=prompts, completions=completions, **kwargs)]


class _ProgressCallback(TrainerCallback):
    """Feeds each optimiser step's familiarity signal to the progress."""

    def __init__(self, trainer: CurrvlRCPATrainer) -> None:
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        self.trainer.end_step(state.global_step)
        return control


class _PhaseCallback(TrainerCallback):
    """Each phase's own optimisation: the pre-alignment's learning rate while rho > 0, and a fresh
    optimiser state at the hand-off to free GRPO (`rcpa.prealign_learning_rate`,
    `rcpa.reset_optimizer_at_handoff`). Runs before each optimiser step, on every process alike."""

    def __init__(self, trainer: CurrvlRCPATrainer) -> None:
        self.trainer = trainer

    def on_step_begin(self, args, state, control, **kwargs):
        t, cfg = self.trainer, self.trainer.rcpa
        optimizer = t.optimizer
        prealigning = prefix_ratio(t.progress.at_step(state.global_step), cfg) > 0
        if not prealigning and t.progress.handoff_step is None:
            t.progress.handoff_step = state.global_step  # saved with the progress: once per run
            if cfg.reset_optimizer_at_handoff:
                optimizer.state.clear()  # Adam's moments start over, lazily, at the next step
                log.info("step %d: pre-alignment over; optimiser state reset", state.global_step)
        if prealigning and cfg.prealign_learning_rate is not None:
            scale = cfg.prealign_learning_rate / args.learning_rate
            for group, lr in zip(optimizer.param_groups, t.lr_scheduler.get_last_lr(), strict=True):
                group["lr"] = lr * scale  # the scheduler sets every step's rate afresh: no compounding
        t._metrics["train"]["rcpa/learning_rate"].append(optimizer.param_groups[0]["lr"])
        return control


class CurrvlRCPATrainer(CurrvlGRPOTrainer):
    """GRPO with pre-alignment: rollouts start with ceil(rho L) forced reference tokens; rho -> 0.

    `args` is a `CurrvlRCPAConfig`, whose ``rcpa`` field holds the RCPA options; a plain `GRPOConfig` (or a
    `CurrvlGRPOConfig`) is refused with a TypeError: it has no ``rcpa`` field to read."""

    config_class = CurrvlRCPAConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress = Progress(self.rcpa)
        self.rho = 0.0
        self.delta = self.rcpa.delta_min
        self._forced: list[list[int]] | None = None
        self._members: list[bool] | None = None
        self._rewards: tuple[torch.Tensor, torch.Tensor] | None = None
        self._signals: list[float] = []
        self._ref_cache: dict[str, list[int]] = {}
        self._hint_scale = 1.0  # the share of rho's prefix a guidance ladder round forces
        if not self._uses_own_loss():
            raise ValueError("RCPA needs currvl's GRPO loss: use loss_type grpo, bnpo, dr_grpo or dapo")
        if self.use_vllm and self.rcpa.per_rollout_prefix:
            raise ValueError("rcpa.per_rollout_prefix needs one prompt per rollout; not available with vLLM")
        # Graded rewards count only at or above delta: (reward, its configured threshold) for those that
        # gate themselves, a wrapper for any other named in gated_rewards.
        self._own_gates: list[tuple[Any, float]] = []
        funcs = []
        for f in self.reward_funcs:
            if getattr(f, "__name__", None) in self.rcpa.gated_rewards:
                if hasattr(f, "set_similarity_threshold"):
                    self._own_gates.append((f, f.similarity_threshold))
                else:
                    f = ThresholdGatedReward(f, self)
            funcs.append(f)
        self.reward_funcs = funcs
        if self.rcpa.reset_optimizer_at_handoff and self.is_deepspeed_enabled:
            raise ValueError("rcpa.reset_optimizer_at_handoff: DeepSpeed's engine owns the optimiser state")
        self.add_callback(_ProgressCallback(self))
        self.add_callback(_PhaseCallback(self))

    @property
    def rcpa(self) -> RCPAConfig:
        """The RCPA options (`args.rcpa`)."""
        return self.args.rcpa

    # --- curriculum state ---------------------------------------------------------------------------

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        if isinstance(resume_from_checkpoint, str) and (Path(resume_from_checkpoint) / STATE_FILE).exists():
            state = json.loads((Path(resume_from_checkpoint) / STATE_FILE).read_text())
            self.progress.load_state_dict(state)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _extra_checkpoint_state(self) -> dict[str, Any]:
        """The curriculum progress is written into every checkpoint before it is published."""
        return {**super()._extra_checkpoint_state(), STATE_FILE: self.progress.state_dict()}

    def end_step(self, step: int) -> None:
        signal = sum(self._signals) / len(self._signals) if self._signals else None
        self._signals = []
        if self.progress.record(step, signal):
            log.info("RCPA: familiarity passed at step %d, progress now %.2f", step, self.progress.value)

    # --- rollouts -----------------------------------------------------------------------------------

    def _reference_ids(self, text: str) -> list[int]:
        if text not in self._ref_cache:
            self._ref_cache[text] = self._tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._ref_cache[text]

    def _plan_constraints(self, inputs: list[dict[str, Any]], step: int) -> None:
        """Which tokens each rollout of this batch starts with (forced) and which rows are the reference."""
        cfg, G = self.rcpa, self.num_generations
        self._forced, self._members = None, None
        if self.rho <= 0 or not self.model.training:
            return
        if REFERENCE_COLUMN not in inputs[0]:
            raise ValueError(f"RCPA needs a '{REFERENCE_COLUMN}' column (the reference completion text)")
        first_row = self.accelerator.process_index * len(inputs)
        forced, members = [], []
        for i, x in enumerate(inputs):
            ids = self._reference_ids(x[REFERENCE_COLUMN])
            row = first_row + i
            rng = random.Random(f"{self.args.seed}-{step}-{row}")
            if cfg.constraint == "reference_member":
                group_rng = random.Random(f"{self.args.seed}-{step}-group{row // G}")
                is_member = row % G == G - 1 and group_rng.random() < self.rho / cfg.rho_max
                forced.append(ids + [self.eos_token_ids[0]] if is_member else [])
                members.append(is_member)
                continue
            k = prefix_length(self.rho * self._hint_scale, len(ids), 0)
            k = rng.randint(0, k) if cfg.per_rollout_prefix else k
            forced.append(ids[: max(k - cfg.offset, 0)])
            members.append(False)
        # set even when this process drew no constraint (no reference member in its groups this step):
        # every process must then score the continuation too, or the reward gathers would not pair up
        self._forced, self._members = forced, members

    def _generate_single_turn(
        self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False
    ):
        forced = self._forced
        if not forced:
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        prefixes = [f if not m else [] for f, m in zip(forced, self._members, strict=True)]
        prompt_ids = [list(p) + f for p, f in zip(prompt_ids, prefixes, strict=True)]
        # per-token fields (e.g. Qwen's mm_token_type_ids) grow with the prompt: the prefix is text (0)
        multimodal_fields = {
            key: [list(row) + [0] * len(f) for row, f in zip(value, prefixes, strict=True)]
            if isinstance(value, list) and value and isinstance(value[0], list)
            else value
            for key, value in multimodal_fields.items()
        }
        completion_ids, logprobs = super()._generate_single_turn(
            prompt_ids, images, multimodal_fields, num_generations, has_tool_images
        )
        out_ids, out_logprobs = [], []
        for i, (f, c) in enumerate(zip(forced, completion_ids, strict=True)):
            c = list(c)
            if self._members[i]:  # the reference replaces this rollout
                out_ids.append(list(f))
                if logprobs is not None:
                    out_logprobs.append([float("nan")] * len(f))
            else:
                out_ids.append(list(f) + c)
                if logprobs is not None:
                    out_logprobs.append([float("nan")] * len(f) + list(logprobs[i]))
        return out_ids, (out_logprobs if logprobs is not None else None)

    # signal metrics: a reference member is not the policy's rollout; a forced prefix not its output
    def _signal_rewards(self) -> torch.Tensor | None:
        return self._trained_rewards() if self._rewards is not None else None

    def _injected_rows(self, n: int) -> list[bool]:
        return list(self._members) if self._members else [False] * n

    def _forced_length(self, row: int) -> int:
        return len(self._forced[row]) if self._forced else 0

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        full = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        cont = full
        if self._forced:
            cont_ids = [ids[len(f) :] for ids, f in zip(completion_ids_list, self._forced, strict=True)]
            texts = self.processing_class.batch_decode(cont_ids, skip_special_tokens=True)
            conversational = isinstance(completions[0], list)
            cont_completions = [[{"role": "assistant", "content": t}] if conversational else t for t in texts]
            cont = super()._calculate_rewards(inputs, prompts, cont_completions, cont_ids)
        self._rewards = (full, cont)
        return full if self.rcpa.reward_scope == "full" else cont

    def _rollout_round(self, inputs, first: bool = True):
        if self.rcpa.guidance in ("on_failure", "shortest") and self.model.training:
            out = self._guided_on_failure(inputs, first)
        else:
            out = self._constrained_round(inputs, first, constrain=True)
        if self.model.training:
            forced = out["forced_mask"].sum(dim=1).float()
            self._metrics["train"]["rcpa/forced_tokens"].append(forced.mean().item())
        return out

    def _guided_on_failure(self, inputs, first: bool):
        """BREAD / Guide-GRPO ("on_failure"): free rollouts first; groups whose rollouts all fail on the
        task reward are sampled again under the constraint (a rho-long prefix, or the reference as a
        member). Hint-GRPO ("shortest"): the same up a ladder of prefix ratios rho * j / hint_levels,
        so a group keeps the shortest prefix at which a rollout earned a reward (the last rung's when
        none did). Every process runs as many rounds as the one with the most failed groups."""
        G = self.num_generations
        free = self._constrained_round(inputs, first, constrain=False)
        if self.rho <= 0:
            return free
        levels = self.rcpa.hint_levels if self.rcpa.guidance == "shortest" else 1
        current, groups = free, list(range(len(inputs) // G))  # groups: the inputs' group of each row group
        parts, scales = [], []
        for rung in range(1, levels + 1):
            failed = self._local_groups(current, failed_groups)
            if failed is None:
                return free
            failed = failed[: len(groups)]  # filler groups (padding) are dropped
            passed, still = (~failed).nonzero().flatten().tolist(), failed.nonzero().flatten().tolist()
            counts = self.accelerator.gather(torch.tensor([len(still)], device=self.accelerator.device))
            if rung == 1:
                total = len(groups) * self.accelerator.num_processes  # every process holds as many groups
                self._metrics["train"]["rcpa/guided_fraction"].append(counts.sum().item() / total)
            if passed:
                parts.append(select_rows(current, rows_of_groups(passed, G)))
                scales += [(rung - 1) / levels] * len(passed)
            groups = [groups[g] for g in still]
            most = int(counts.max().item())  # every process runs the same rounds
            if most == 0 and rung == 1:  # no group failed anywhere: the free round as it is
                self._metrics["train"]["rcpa/hint_scale"].append(0.0)
                return free
            if most == 0:
                break
            padded = groups + list(range(most - len(groups)))  # filler groups are generated, then dropped
            self._hint_scale = rung / levels
            try:
                current = self._constrained_round(
                    [inputs[r] for r in rows_of_groups(padded, G)], first=False, constrain=True
                )
            finally:
                self._hint_scale = 1.0
        else:  # the last rung's groups are kept whatever they scored
            if groups:
                parts.append(select_rows(current, rows_of_groups(range(len(groups)), G)))
                scales += [1.0] * len(groups)
        self._metrics["train"]["rcpa/hint_scale"].append(sum(scales) / len(scales))
        out = concat_batches(parts, pad_token_id=self._tokenizer.pad_token_id or 0)
        if "num_items_in_batch" in out:
            out["num_items_in_batch"] = self._count_loss_tokens(out)
        return out

    def _constrained_round(self, inputs, first: bool, constrain: bool):
        """One round of rollouts, with the constraints of the current rho when `constrain`."""
        step = self.state.global_step
        p = self.progress.at_step(step)
        self.rho = prefix_ratio(p, self.rcpa)
        self.delta = reward_threshold(p, self.rcpa)
        for reward, configured in self._own_gates:
            reward.set_similarity_threshold(max(configured, self.delta))
        if constrain:  # otherwise free: the last round's plan was cleared when it ended
            self._plan_constraints(inputs, step)
        try:
            out = super()._rollout_round(inputs, first)
        finally:
            forced, members, self._forced, self._members = self._forced, self._members, None, None
        mode = "train" if self.model.training else "eval"
        completion_mask = out["completion_mask"]
        B, C = completion_mask.shape
        forced_mask = torch.zeros_like(completion_mask)
        member = torch.zeros(B, dtype=torch.bool, device=completion_mask.device)
        if forced:
            for i, f in enumerate(forced):
                forced_mask[i, : min(len(f), C)] = 1
                member[i] = members[i]
        out["forced_mask"] = forced_mask * completion_mask
        out["reference_member"] = member
        if self.loss_type == "dapo":
            out["num_items_in_batch"] = self._count_loss_tokens(out)
        self._add_cdp_weights(out, B)
        if mode == "train":
            self._log_rollout_metrics(out, p)
        return out

    def _count_loss_tokens(self, inputs) -> torch.Tensor:
        return self.accelerator.gather(self._policy_mask(inputs).sum()).sum()

    def _policy_mask(self, inputs) -> torch.Tensor:
        """Tokens the policy gradient sees: generated ones, plus a reference member's (off-policy guide)."""
        mask = inputs["completion_mask"]
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"]
        forced = inputs["forced_mask"]
        member = inputs["reference_member"].unsqueeze(1).to(mask.dtype)
        return mask * (1 - forced) + mask * forced * member

    def _trained_rewards(self) -> torch.Tensor:
        """The per-function rewards the advantages come from (full answer or continuation, by scope)."""
        assert self._rewards is not None
        return self._rewards[1 if self.rcpa.reward_scope == "continuation" else 0]

    def _weighted_total(self, rewards: torch.Tensor) -> torch.Tensor:
        """Per-rollout reward as TRL sums the functions (weighted nansum); NaN where none could score."""
        total = (rewards * self.reward_weights.to(rewards.device).unsqueeze(0)).nansum(dim=1)
        total[torch.isnan(rewards).all(dim=1)] = float("nan")
        return total

    def _task_rewards(self, continuation: bool = False) -> tuple[torch.Tensor, float] | None:
        """Per-rollout task reward (every reward but format, over all processes' rows) and its maximum
        (the task rewards' weights summed); None when every reward is a format reward. Scored on what
        the advantages use, or on the generated continuation alone when `continuation`."""
        names = list(self.reward_func_names)
        columns = task_reward_columns(names)
        if self._rewards is None or not columns:
            return None
        rewards = self._rewards[1] if continuation else self._trained_rewards()
        task = task_reward(rewards, names, self.reward_weights)
        return task, float(self.reward_weights[columns].sum())

    def _add_cdp_weights(self, out: dict[str, Any], local_rows: int) -> None:
        """Difficulty weights from the task reward alone (every reward but format), as a fraction of
        its maximum: a well-formatted wrong answer must not look like a query of medium difficulty."""
        task = self._task_rewards() if self.rcpa.weighting != "none" else None
        if task is None:
            return
        w = difficulty_weights(task[0], self.num_generations, self.rcpa, max_reward=task[1])
        start = self.accelerator.process_index * local_rows
        out["cdp_weights"] = w[start : start + local_rows]

    def _familiarity_reward(self, members: torch.Tensor) -> float | None:
        """The policy's own mean task reward (graded rewards as gated by delta) as a fraction of its
        maximum, so QA (accuracy) and reports (findings F1, CIDEr) alike can drive familiarity
        progress. Reference members are not the policy's and are left out. With familiarity_signal
        "continuation_reward", only what the policy generated after the forced prefix is scored."""
        task = self._task_rewards(continuation=self.rcpa.familiarity_signal == "continuation_reward")
        if task is None:
            return None
        members = self.accelerator.gather(members.to(self.accelerator.device))  # rewards are global
        own = task[0][~members.to(task[0].device)]
        if own.numel() == 0 or torch.isnan(own).all():
            return None
        return torch.nanmean(own).item() / max(task[1], 1e-8)

    def _log_rollout_metrics(self, out, p: float) -> None:
        metrics = self._metrics["train"]
        metrics["rcpa/progress"].append(p)
        metrics["rcpa/rho"].append(self.rho)
        metrics["rcpa/delta"].append(self.delta)
        metrics["rcpa/imitation_weight"].append(imitation_weight(self.rho, self.rcpa))
        if self._rewards is not None:
            full, cont = (self._weighted_total(r).nan_to_num(0.0).mean().item() for r in self._rewards)
            metrics["rcpa/reward_full"].append(full)
            metrics["rcpa/reward_continuation"].append(cont)
            if self.rcpa.familiarity_signal in ("reward", "continuation_reward"):
                signal = self._familiarity_reward(out["reference_member"])
                if signal is not None:
                    self._signals.append(signal)
        if "cdp_weights" in out:
            metrics["rcpa/cdp_weight_max"].append(out["cdp_weights"].max().item())

    # --- loss ---------------------------------------------------------------------------------------

    def _compute_loss(self, model, inputs):
        if "forced_mask" not in inputs:
            return super()._compute_loss(model, inputs)
        per_token_logps, entropies = self._policy_logps(model, inputs)
        policy_mask = self._policy_mask(inputs)
        loss = self._policy_loss(
            inputs,
            per_token_logps,
            entropies,
            policy_mask,
            sample_weights=inputs.get("cdp_weights"),
            weight_kl=self.rcpa.weight_kl,
        )
        mode = "train" if self.model.training else "eval"
        metrics = self._metrics[mode]
        metrics["rcpa/grpo_loss"].append(loss.detach().item())
        imit_mask = inputs["forced_mask"] * (~inputs["reference_member"]).unsqueeze(1).to(policy_mask.dtype)
        lam = imitation_weight(self.rho, self.rcpa)
        if imit_mask.any():
            nll = imitation_nll(per_token_logps, imit_mask)
            metrics["rcpa/imitation_loss"].append(nll.detach().item())
            if self.rcpa.familiarity_signal == "likelihood" and mode == "train":
                self._signals.append(torch.exp(-nll.detach()).item())
            if lam > 0:
                scale = self.current_gradient_accumulation_steps if mode == "train" else 1
                loss = loss + lam * nll / scale
        return loss
