"""GRPO trainer: TRL's GRPOTrainer (generation, rewards, vLLM, accelerate) with currvl's loss math.

The subclass only replaces the loss; everything that scales (DeepSpeed/FSDP via accelerate, vLLM rollouts,
PEFT) stays TRL's. Options our loss module does not model (cispo/sapo/vespo/luspo, entropy masks and
bonuses, off-policy masks, MoE aux loss) fall back to TRL's own implementation unchanged.
"""

from __future__ import annotations

import logging

import torch
from trl import GRPOTrainer

from currvl.algorithms.grpo import LOSS_TYPES, GRPOLossConfig, grpo_loss
from currvl.training.checkpoint import ConvertingCheckpointLoadMixin
from currvl.training.reliability import ReliableTrainerMixin, UnscorableRewardMixin

log = logging.getLogger(__name__)


class CurrvlGRPOTrainer(
    ReliableTrainerMixin, UnscorableRewardMixin, ConvertingCheckpointLoadMixin, GRPOTrainer
):
    """`trl.GRPOTrainer` whose policy loss is `currvl.algorithms.grpo.grpo_loss`."""

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
            token_scale=token_scale,
        )
        loss = out.loss
        if cfg.loss_type != "dapo" and mode == "train":
            loss = loss / self.current_gradient_accumulation_steps
        self._log_loss_metrics(mode, out, entropies, inputs["advantages"], mask)
        return loss

    @staticmethod
    def _multimodal_inputs(inputs) -> dict:
        keys = (
            "pixel_values",
            "image_grid_thw",
            "num_images",
            "pixel_attention_mask",
            "spatial_shapes",
            "num_tiles",
            "image_sizes",
            "token_type_ids",
            "mm_token_type_ids",
            "image_position_ids",
        )
        return {k: inputs.get(k) for k in keys}

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
