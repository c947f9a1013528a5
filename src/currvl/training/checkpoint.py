"""Checkpoint loading that survives transformers 5's key conversion.

`save_pretrained` writes Qwen2.5-VL weights under their original names ("visual.*", "model.layers.*"),
but `Trainer._load_from_checkpoint` feeds them to a plain `load_state_dict(strict=False)`, which
silently matches nothing: a resumed run would continue from the *initial* weights. We load the
checkpoint through `from_pretrained` (which applies the conversion) and copy the weights strictly.
"""

from __future__ import annotations

import os

from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME


class ConvertingCheckpointLoadMixin:
    """Mix into a `transformers.Trainer` subclass (before the trainer class)."""

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        target = model if model is not None else self.model
        unwrapped = self.accelerator.unwrap_model(target)
        has_full_weights = any(
            os.path.isfile(os.path.join(resume_from_checkpoint, name))
            for name in (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME)
        )
        is_peft = hasattr(unwrapped, "peft_config")
        if not has_full_weights or is_peft or self.is_fsdp_enabled or self.is_deepspeed_enabled:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        dtype = next(unwrapped.parameters()).dtype
        loaded = type(unwrapped).from_pretrained(resume_from_checkpoint, dtype=dtype)
        unwrapped.load_state_dict(loaded.state_dict(), strict=True)
        del loaded
