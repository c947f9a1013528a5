"""Every private TRL / transformers trainer method currvl overrides or calls, in one place.

currvl's trainers change TRL's GRPO step from the inside: they override private methods of
`trl.GRPOTrainer` (and, for checkpoints, of `transformers.Trainer`) and call them through ``super()``.
Private methods change without deprecation, so a new TRL could break a run silently (an override that is
never called) or deep into it (an argument that no longer exists). `check_trl_hooks` compares the
installed methods' parameter names with the ones our code was written against, and every currvl trainer
runs it when it is built: a changed TRL fails at once, naming the method and the versions. The pin in
pyproject.toml (``trl>=1.16,<1.17``) is the range these names were checked on; widening it means
checking them again (tests/training/test_trl_hooks.py).

Private *attributes* we read (``_metrics``, ``_tokenizer``) are set in ``GRPOTrainer.__init__`` and cannot
be checked on the class; a rename shows up as an AttributeError in the first step.
"""

from __future__ import annotations

import inspect

import transformers
import trl

MULTIMODAL_KEYS = (
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
"""The image inputs TRL's `_get_per_token_logps_and_entropies` takes after its own: what a rollout batch
carries for the model's forward pass (`CurrvlGRPOTrainer._multimodal_inputs` passes them on)."""

# name -> the parameters after `self`, in order. Who relies on it, and how:
GRPO_HOOKS: dict[str, tuple[str, ...]] = {
    # overridden: grpo.py (signal metrics), rcpa.py (continuation rewards), reliability.py (unscorable rows)
    "_calculate_rewards": ("inputs", "prompts", "completions", "completion_ids_list"),
    # overridden in grpo.py: dynamic sampling and signal metrics around TRL's rollout round
    "_generate_and_score_completions": ("inputs",),
    # overridden in rcpa.py: the forced reference prefix is appended to the prompt tokens
    "_generate_single_turn": (
        "prompt_ids",
        "images",
        "multimodal_fields",
        "num_generations",
        "has_tool_images",
    ),
    # overridden in grpo.py and rcpa.py: currvl's loss, TRL's as the fallback
    "_compute_loss": ("model", "inputs"),
    # called in grpo.py (`_policy_logps`), positionally up to logits_to_keep, then by keyword
    "_get_per_token_logps_and_entropies": (
        "model",
        "input_ids",
        "attention_mask",
        "logits_to_keep",
        "batch_size",
        "compute_entropy",
        "compute_aux_loss",
        *MULTIMODAL_KEYS,
    ),
}

# Of every transformers.Trainer (TRL's trainers override the first): reliability.py's atomic checkpoints
# and checkpoint.py's converting resume, mixed into the GRPO and SFT trainers alike.
TRAINER_HOOKS: dict[str, tuple[str, ...]] = {
    "_save_checkpoint": ("model", "trial"),
    "_get_output_dir": ("trial",),
    "_load_from_checkpoint": ("resume_from_checkpoint", "model"),
}


class TRLHookError(RuntimeError):
    """The installed TRL (or transformers) no longer has a private method as currvl's trainers use it."""


def check_trl_hooks(trainer_cls: type | None = None, hooks: dict[str, tuple[str, ...]] | None = None) -> None:
    """Raise `TRLHookError` unless `trainer_cls` (default `trl.GRPOTrainer`) has every hook of `hooks`
    (default: GRPO_HOOKS and TRAINER_HOOKS) with exactly the expected parameter names."""
    trainer_cls = trainer_cls or trl.GRPOTrainer
    hooks = hooks if hooks is not None else {**GRPO_HOOKS, **TRAINER_HOOKS}
    versions = f"trl {trl.__version__}, transformers {transformers.__version__}"
    for name, expected in hooks.items():
        method = getattr(trainer_cls, name, None)
        if not callable(method):
            raise TRLHookError(
                f"{trainer_cls.__name__}.{name} is missing ({versions}): currvl's trainers override or call "
                f"it; see currvl.training.trl_hooks and the trl pin in pyproject.toml"
            )
        params = tuple(p for p in inspect.signature(method).parameters if p != "self")
        if params != expected:
            raise TRLHookError(
                f"{trainer_cls.__name__}.{name} changed ({versions}): parameters {params}, currvl expects "
                f"{expected}; see currvl.training.trl_hooks and the trl pin in pyproject.toml"
            )
