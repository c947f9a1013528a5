"""The TRL-style configs of currvl's trainers: `trl.GRPOConfig` plus each method's own options.

As in TRL, a trainer takes one config dataclass (`args`) and reads every option from it, so a script can
build, print, save (`training_args.bin`) and parse (`HfArgumentParser`/`TrlParser`) the whole setup in one
piece. Naming: ``CurrvlGRPOConfig`` and ``CurrvlRCPAConfig`` pair with ``CurrvlGRPOTrainer`` and
``CurrvlRCPATrainer``, as ``GRPOConfig`` pairs with ``GRPOTrainer``. They *carry* the algorithms' own
option dataclasses (`currvl.algorithms.rcpa.RCPAConfig`, `currvl.algorithms.dynamic_sampling.
DynamicSamplingConfig`), which stay free of TRL: those are what a recipe's ``rcpa:`` and
``rollout.dynamic_sampling:`` sections hold, and what the algorithm functions take.

A nested option may also be given as a dict, or as a JSON string (what a command line passes); either
becomes the dataclass in ``__post_init__``, where the dataclass checks its values. The union types list
``str`` second so that `HfArgumentParser` turns such a field into a string argument.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig

from currvl.algorithms.dynamic_sampling import DynamicSamplingConfig
from currvl.algorithms.rcpa import RCPAConfig


def _as_config(value: Any, cls: type, name: str) -> Any:
    """`value` (None, an instance, a dict or a JSON object string) as an instance of `cls` (None stays)."""
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, dict):
        return cls(**value)
    if value is None or isinstance(value, cls):
        return value
    raise TypeError(f"{name}: expected a {cls.__name__}, a dict or a JSON string, got {type(value).__name__}")


@dataclass
class CurrvlGRPOConfig(GRPOConfig):
    """`trl.GRPOConfig` for `currvl.training.grpo.CurrvlGRPOTrainer`, with the rollout options of a
    recipe's ``rollout:`` section. Every `GRPOConfig` field means what it means in TRL."""

    share_vision_encoding: bool = field(
        default=True,
        metadata={
            "help": "Encode each distinct image of a forward pass once for its whole group of rollouts "
            "(`currvl.models.vision_sharing`). The loss and gradients are unchanged; models that do not "
            "support it are left as they are."
        },
    )
    dynamic_sampling: dict | str | DynamicSamplingConfig | None = field(
        default=None,
        metadata={
            "help": "Dynamic sampling (DAPO): drop groups whose mean task reward is <= `min` or >= `max` and "
            "replace them with groups of fresh prompts, up to `max_rounds` extra rounds per step. A "
            "`currvl.algorithms.dynamic_sampling.DynamicSamplingConfig`, or its fields as a dict or JSON "
            "string, e.g. '{\"max_rounds\": 2}'. None: off."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.dynamic_sampling = _as_config(self.dynamic_sampling, DynamicSamplingConfig, "dynamic_sampling")

    def to_dict(self) -> dict[str, Any]:
        """TrainingArguments' dict, with the nested option dataclasses as dicts (JSON: TensorBoard, W&B)."""
        d = super().to_dict()
        return {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in d.items()}


@dataclass
class CurrvlRCPAConfig(CurrvlGRPOConfig):
    """`CurrvlGRPOConfig` for `currvl.training.rcpa.CurrvlRCPATrainer`, with the RCPA options of a recipe's
    ``rcpa:`` section. (``RCPAConfig`` is the algorithm's own option set; this is the trainer's config.)"""

    rcpa: dict | str | RCPAConfig | None = field(
        default=None,
        metadata={
            "help": "RCPA (reinforced curriculum pre-alignment) options: prefix schedule, familiarity rule, "
            "reward threshold, difficulty weighting and ordering. A `currvl.algorithms.rcpa.RCPAConfig`, or "
            'its fields as a dict or JSON string, e.g. \'{"steps": 100, "rho_max": 0.5}\'. None: '
            "RCPAConfig's defaults."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.rcpa = _as_config(self.rcpa, RCPAConfig, "rcpa") or RCPAConfig()
