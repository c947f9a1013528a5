"""GRPO trainer: TRL's GRPOTrainer (generation, rewards, vLLM, accelerate) with currvl's loss math.

The subclass only replaces the loss; everything that scales (DeepSpeed/FSDP via accelerate, vLLM rollouts,
PEFT) stays TRL's. Options our loss module does not model (cispo/sapo/vespo/luspo, entropy masks and
bonuses, off-policy masks, MoE aux loss) fall back to TRL's own implementation unchanged.

Every training step also logs currvl's signal metrics (`currvl.algorithms.signals`), next to TRL's:

- ``signal/zero_variance_task``: fraction of groups whose *task* reward (format rewards left out)
  ties over the policy's own rollouts (injected reference rows left out). TRL's
  ``frac_reward_zero_std`` counts the total reward over all rows, which hides a collapse.
- ``signal/concept_rate``: fraction of the policy's rollouts whose generated part names the
  target concept (`currvl.rewards.concepts`); absent when no item of the batch has a concept.
- ``signal/answer_entropy``: mean policy entropy over the tokens inside <answer> ... </answer>.

Two rollout options, fields of the trainer's config `CurrvlGRPOConfig` (`currvl.training.trainer_configs`;
a recipe's `rollout:` section):

- ``share_vision_encoding`` (on by default): each distinct image of a forward pass is encoded once
  for its whole group (`currvl.models.vision_sharing`); the loss and gradients are unchanged.
- ``dynamic_sampling``: groups whose task-reward mean is at or beyond the bounds are dropped and
  replaced by groups of fresh prompts, up to ``max_rounds`` extra rounds
  (`currvl.algorithms.dynamic_sampling`). The signal metrics describe the first round: the batch as
  sampled, so ``signal/zero_variance_task`` still shows how often the policy collapses.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from pathlib import Path
from typing import Any

import torch
from trl import GRPOTrainer

from currvl.algorithms.dynamic_sampling import informative_groups, rows_of_groups
from currvl.algorithms.grpo import LOSS_TYPES, GRPOLossConfig, grpo_loss
from currvl.algorithms.signals import (
    ZERO_VARIANCE_TASK_KEY,
    answer_token_mask,
    task_reward,
    task_reward_columns,
    zero_variance_fraction,
)
from currvl.models.vision_sharing import share_image_encoding
from currvl.rewards.concepts import contains_concept, target_concepts
from currvl.rewards.similarity import DEFAULT_FINDINGS_VOCABULARY
from currvl.training.checkpoint import ConvertingCheckpointLoadMixin
from currvl.training.reliability import ReliableTrainerMixin, UnscorableRewardMixin
from currvl.training.rollout_batch import concat_batches, num_rows, select_rows
from currvl.training.trainer_configs import CurrvlGRPOConfig
from currvl.training.trl_hooks import MULTIMODAL_KEYS, check_trl_hooks

log = logging.getLogger(__name__)

DYNAMIC_SAMPLING_STATE_FILE = "dynamic_sampling_state.json"


class CurrvlGRPOTrainer(
    ReliableTrainerMixin, UnscorableRewardMixin, ConvertingCheckpointLoadMixin, GRPOTrainer
):
    """`trl.GRPOTrainer` whose policy loss is `currvl.algorithms.grpo.grpo_loss`; `args` is a
    `CurrvlGRPOConfig`. The TRL private methods it overrides are checked when it is built
    (`currvl.training.trl_hooks`)."""

    config_class: type[CurrvlGRPOConfig] = CurrvlGRPOConfig
    """The `args` this trainer needs: its options are fields there, as in TRL (a subclass may extend it)."""

    def __init__(
        self,
        model: Any,
        reward_funcs: Any = None,
        args: CurrvlGRPOConfig | None = None,
        *rest: Any,
        **kwargs: Any,
    ) -> None:
        check_trl_hooks()
        # e.g. dynamic_sampling= or rcpa=, which were trainer arguments before they moved into args
        misplaced = sorted(kwargs.keys() & {f.name for f in dataclasses.fields(self.config_class)})
        if misplaced:
            raise TypeError(
                f"{', '.join(misplaced)}: fields of the trainer config, not trainer arguments; pass "
                f"args={self.config_class.__name__}(..., {misplaced[0]}=...)"
            )
        if args is None:
            args = self.config_class()  # as TRL does, the config's defaults
        elif not isinstance(args, self.config_class):
            # a plain GRPOConfig cannot be upgraded safely (its __post_init__ has run), so say what to pass
            raise TypeError(
                f"{type(self).__name__} reads its options from args: pass a {self.config_class.__name__} "
                f"(currvl.training.trainer_configs; a trl.GRPOConfig with currvl's fields), "
                f"got {type(args).__name__}"
            )
        self._prompts_drawn = 0  # replacement prompts drawn so far (dynamic sampling), kept in checkpoints
        super().__init__(model, reward_funcs, args, *rest, **kwargs)
        # sharing is on when args asks for it and every model here supports it
        self.share_vision_encoding = False
        if self.args.share_vision_encoding:
            models = [self.model] + ([self.ref_model] if getattr(self, "ref_model", None) is not None else [])
            self.share_vision_encoding = all([share_image_encoding(m) for m in models])
        if self.args.dynamic_sampling is not None:
            self._check_dynamic_sampling()

    def _check_dynamic_sampling(self) -> None:
        if not task_reward_columns(self.reward_func_names):
            raise ValueError(
                "dynamic_sampling filters on the task reward, but every reward function is a format reward"
            )
        local = self.args.per_device_train_batch_size * self.args.steps_per_generation
        if local % self.num_generations:
            raise ValueError(
                f"dynamic_sampling needs whole groups on each process: per_device_train_batch_size x "
                f"steps_per_generation ({local}) must be a multiple of num_generations ({self.num_generations})"
            )

    def _uses_own_loss(self) -> bool:
        args = self.args
        return (
            self.loss_type in LOSS_TYPES
            and self.top_entropy_quantile >= 1.0
            and self.off_policy_mask_threshold is None
            and not getattr(self, "_entropy_bonus_enabled", False)
            and not self.aux_loss_enabled
            and getattr(args, "importance_sampling_level", "token") in ("token", "sequence")
        )

    def _loss_config(self) -> GRPOLossConfig:
        args = self.args
        return GRPOLossConfig(
            loss_type=self.loss_type,
            epsilon_low=self.epsilon_low,
            epsilon_high=self.epsilon_high,
            delta=args.delta,
            beta=self.beta,
            importance_sampling_level=self.importance_sampling_level,
            use_bias_correction_kl=args.use_bias_correction_kl,
            max_completion_length=self.max_completion_length,
        )

    # --- signal metrics -----------------------------------------------------------------------------

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._step_rewards = rewards
        return rewards

    def _signal_rewards(self) -> torch.Tensor | None:
        """Per-function rewards (all processes) of the rollouts as trained on."""
        return getattr(self, "_step_rewards", None)

    def _injected_rows(self, n: int) -> list[bool]:
        """Local rows that are not the policy's own rollouts (none in plain GRPO)."""
        return [False] * n

    def _forced_length(self, row: int) -> int:
        """How many leading tokens of a local rollout the policy did not generate (none in plain GRPO)."""
        return 0

    def _concept_vocabulary(self) -> tuple[str, ...]:
        for f in self.reward_funcs:
            if getattr(f, "__name__", None) == "findings_f1" and hasattr(f, "vocabulary"):
                return tuple(f.vocabulary)
        return DEFAULT_FINDINGS_VOCABULARY

    def _generate_and_score_completions(self, inputs):
        if self.args.dynamic_sampling is None or not self.model.training:
            return self._rollout_round(inputs)
        return self._dynamically_sampled(inputs)

    def _rollout_round(self, inputs, first: bool = True):
        """Generate and score one batch of groups (subclasses add their per-round work here)."""
        out = super()._generate_and_score_completions(inputs)
        if self.model.training:
            self._log_signal_metrics(inputs, out, log_signals=first)
        return out

    def _log_signal_metrics(self, inputs, out, log_signals: bool = True) -> None:
        metrics = self._metrics["train"]
        device = out["completion_ids"].device
        injected = self._injected_rows(len(inputs))
        if self._signal_rewards() is not None and log_signals:
            task, exclude = self._policy_task_rewards(torch.tensor(injected, dtype=torch.bool, device=device))
            if task is not None and task.numel() == exclude.numel():
                frac = zero_variance_fraction(task, self.num_generations, exclude)
                if frac is not None:
                    metrics[ZERO_VARIANCE_TASK_KEY].append(frac)
        ids = [
            [int(t) for t, m in zip(row, mask, strict=True) if m]
            for row, mask in zip(out["completion_ids"].tolist(), out["completion_mask"].tolist(), strict=True)
        ]
        if log_signals:
            self._log_concept_rate(inputs, ids, injected, device)
        pieces = [self._tokenizer.batch_decode([[t] for t in row]) for row in ids]
        mask = answer_token_mask(pieces, out["completion_ids"].shape[1]).to(device)
        for i, flag in enumerate(injected):  # the answer the policy wrote itself, sampled tokens only
            mask[i, : mask.shape[1] if flag else self._forced_length(i)] = 0
        out["answer_mask"] = mask

    def _log_concept_rate(self, inputs, ids: list[list[int]], injected: list[bool], device) -> None:
        vocabulary = self._concept_vocabulary()
        hits, counted = 0, 0
        for i, x in enumerate(inputs):
            concepts = target_concepts(x.get("answer"), x.get("task"), vocabulary)
            if concepts is None or injected[i]:
                continue
            text = self._tokenizer.decode(ids[i][self._forced_length(i) :], skip_special_tokens=True)
            hits += int(contains_concept(text, concepts, vocabulary))
            counted += 1
        totals = self.accelerator.reduce(
            torch.tensor([hits, counted], dtype=torch.float, device=device), "sum"
        )
        if totals[1] > 0:
            self._metrics["train"]["signal/concept_rate"].append((totals[0] / totals[1]).item())

    # --- dynamic sampling -----------------------------------------------------------------------------

    def _policy_task_rewards(self, injected: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """All processes' task rewards of the last round, and which rows are not the policy's own
        (`injected`: this process's rows that are)."""
        task = task_reward(self._signal_rewards(), list(self.reward_func_names), self.reward_weights)
        return task, self.accelerator.gather(injected.to(torch.bool))

    def _local_groups(self, out, rule) -> torch.Tensor | None:
        """(local groups,) bool: `rule(task_rewards, group_size, exclude)` over every process's groups of
        the round `out`, cut to this process's; None without a task reward. Rows marked
        ``reference_member`` (RCPA's injected references) are not the policy's and do not count."""
        rows = num_rows(out)
        injected = out.get("reference_member")
        if injected is None:
            injected = torch.zeros(rows, dtype=torch.bool, device=self.accelerator.device)
        task, exclude = self._policy_task_rewards(injected)
        if task is None:
            return None
        chosen = rule(task, self.num_generations, exclude)
        per_process = rows // self.num_generations
        start = self.accelerator.process_index * per_process
        return chosen[start : start + per_process].cpu()

    def _local_informative_groups(self, out) -> torch.Tensor:
        """(local groups,) bool: which of this process's groups of the round `out` to keep."""
        cfg = self.args.dynamic_sampling
        assert cfg is not None
        keep = self._local_groups(
            out, lambda task, size, exclude: informative_groups(task, size, cfg, exclude)
        )
        assert keep is not None  # dynamic sampling is refused at start without a task reward
        return keep

    def _replacement_prompts(self, groups: int) -> list[dict[str, Any]]:
        """`groups` fresh prompts of the train set, each repeated for a whole group. The draw depends only
        on (seed, process, prompts drawn so far), so a resumed run draws what the stopped one would have."""
        dataset = self.train_dataset
        inputs = []
        for _ in range(groups):
            rng = random.Random(
                f"currvl/dynamic-sampling/{self.args.seed}/{self.accelerator.process_index}/{self._prompts_drawn}"
            )
            self._prompts_drawn += 1
            row = dataset[rng.randrange(len(dataset))]
            inputs.extend(dict(row) for _ in range(self.num_generations))
        return inputs

    def _dynamically_sampled(self, inputs):
        """Keep the informative groups of `inputs`' rollouts, replace the others from fresh prompts for up
        to `max_rounds` rounds, then top up with dropped groups so the batch keeps its size."""
        assert self.args.dynamic_sampling is not None
        G = self.num_generations
        device = self.accelerator.device
        first = self._rollout_round(inputs, first=True)
        n_groups = num_rows(first) // G
        keep = self._local_informative_groups(first)
        dropped_first = (
            self.accelerator.gather(torch.tensor([int((~keep).sum())], device=device)).sum().item()
        )
        parts = [select_rows(first, rows_of_groups(keep.nonzero().flatten(), G))] if keep.any() else []
        have = int(keep.sum())
        rounds = 0
        while rounds < self.args.dynamic_sampling.max_rounds:
            missing = torch.tensor([n_groups - have], device=device)
            most = int(self.accelerator.gather(missing).max().item())  # every process runs the same rounds
            if most == 0:
                break
            rounds += 1
            fresh = self._rollout_round(self._replacement_prompts(most), first=False)
            fresh_keep = self._local_informative_groups(fresh).nonzero().flatten()
            take = fresh_keep[: n_groups - have]
            if len(take):
                parts.append(select_rows(fresh, rows_of_groups(take, G)))
                have += len(take)
        filled = n_groups - have
        if filled:  # not enough informative groups: train on dropped ones (zero advantage) to keep the size
            parts.append(select_rows(first, rows_of_groups((~keep).nonzero().flatten()[:filled], G)))
        out = concat_batches(parts, pad_token_id=self._tokenizer.pad_token_id or 0)
        if "num_items_in_batch" in out:
            out["num_items_in_batch"] = self._count_loss_tokens(out)
        metrics = self._metrics["train"]
        total_groups = n_groups * self.accelerator.num_processes
        metrics["dynamic_sampling/dropped_fraction"].append(dropped_first / max(total_groups, 1))
        metrics["dynamic_sampling/rounds"].append(float(rounds))
        filled_all = self.accelerator.gather(torch.tensor([filled], device=device)).sum().item()
        metrics["dynamic_sampling/filled_groups"].append(float(filled_all))
        metrics["dynamic_sampling/prompts_drawn"].append(float(self._prompts_drawn))
        return out

    def _count_loss_tokens(self, inputs) -> torch.Tensor:
        """All processes' completion tokens the loss sees (TRL's ``num_items_in_batch``)."""
        mask = inputs["completion_mask"]
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"]
        return self.accelerator.gather(mask.sum()).sum()

    def _extra_checkpoint_state(self) -> dict[str, Any]:
        state = super()._extra_checkpoint_state()
        if self.args.dynamic_sampling is not None:
            state[DYNAMIC_SAMPLING_STATE_FILE] = {"prompts_drawn": self._prompts_drawn}
        return state

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        if isinstance(resume_from_checkpoint, str):
            path = Path(resume_from_checkpoint) / DYNAMIC_SAMPLING_STATE_FILE
            if path.exists():
                self._prompts_drawn = json.loads(path.read_text())["prompts_drawn"]
        return super().train(resume_from_checkpoint, *args, **kwargs)

    # --- loss -----------------------------------------------------------------------------------------

    def _compute_loss(self, model, inputs):
        if not self._uses_own_loss():
            return super()._compute_loss(model, inputs)
        per_token_logps, entropies = self._policy_logps(model, inputs)
        mask = inputs["completion_mask"]
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"]
        return self._policy_loss(inputs, per_token_logps, entropies, mask)

    def _policy_logps(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log-probabilities (and entropies) of the completion tokens under the current policy."""
        completion_ids = inputs["completion_ids"]
        input_ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        per_token_logps, entropies, _ = self._get_per_token_logps_and_entropies(
            model,
            input_ids,
            attention_mask,
            completion_ids.size(1),
            compute_entropy=True,
            **self._multimodal_inputs(inputs),
        )
        return per_token_logps, entropies

    def _policy_loss(
        self,
        inputs,
        per_token_logps: torch.Tensor,
        entropies: torch.Tensor,
        mask: torch.Tensor,
        sample_weights: torch.Tensor | None = None,
        weight_kl: bool = False,
    ) -> torch.Tensor:
        """The GRPO loss on the tokens in `mask`, scaled for gradient accumulation, with TRL's metrics."""
        mode = "train" if self.model.training else "eval"
        cfg = self._loss_config()
        num_items = None
        if cfg.loss_type == "dapo":
            num_items = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
            if mode == "train":
                num_items = (
                    num_items * self.current_gradient_accumulation_steps / self.args.steps_per_generation
                )
        token_scale = None
        if self.use_vllm and self.vllm_importance_sampling_correction:
            token_scale = inputs["importance_sampling_ratio"]
        out = grpo_loss(
            per_token_logps,
            inputs["advantages"],
            mask,
            cfg,
            old_per_token_logps=inputs.get("old_per_token_logps"),
            ref_per_token_logps=inputs.get("ref_per_token_logps"),
            num_items=num_items,
            sample_weights=sample_weights,
            weight_kl=weight_kl,
            token_scale=token_scale,
        )
        loss = out.loss
        if cfg.loss_type != "dapo" and mode == "train":
            loss = loss / self.current_gradient_accumulation_steps
        self._log_loss_metrics(mode, out, entropies, inputs["advantages"], mask)
        if "answer_mask" in inputs:
            local = torch.stack(
                [(entropies.detach() * inputs["answer_mask"]).sum(), inputs["answer_mask"].sum()]
            )
            total, count = self.accelerator.reduce(local, reduction="sum").tolist()
            if count > 0:
                self._metrics[mode]["signal/answer_entropy"].append(total / count)
        return loss

    @staticmethod
    def _multimodal_inputs(inputs) -> dict:
        return {k: inputs.get(k) for k in MULTIMODAL_KEYS}

    def _log_loss_metrics(self, mode, out, entropies, advantages, mask) -> None:
        """Same metric names as TRL, so dashboards and callbacks keep working."""

        def global_masked_mean(x: torch.Tensor) -> float:
            if x.shape[1] == 1:
                local = torch.stack([x.sum(), torch.tensor(float(x.shape[0]), device=x.device)])
            else:
                local = torch.stack([(x * mask).sum(), mask.sum().float()])
            totals = self.accelerator.reduce(local, reduction="sum")
            return (totals[0] / totals[1].clamp(min=1.0)).item()

        metrics = self._metrics[mode]
        if out.per_token_kl is not None:
            metrics["kl"].append(global_masked_mean(out.per_token_kl.detach()))
        metrics["entropy"].append(global_masked_mean(entropies))
        adv = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
        coef_1 = out.coef_1.detach()
        low = (coef_1 < 1 - self.epsilon_low) & (adv < 0)
        high = (coef_1 > 1 + self.epsilon_high) & (adv > 0)
        metrics["clip_ratio/low_mean"].append(global_masked_mean(low.float()))
        metrics["clip_ratio/high_mean"].append(global_masked_mean(high.float()))
        metrics["clip_ratio/region_mean"].append(global_masked_mean((low | high).float()))
