"""SFT trainer: TRL's SFTTrainer (prompt-completion data, loss on the answer only) with safe resume,
atomic checkpoints, clean interruption and a non-finite loss guard (`currvl.training.reliability`)."""

from __future__ import annotations

from typing import Any

from trl import SFTTrainer

from currvl.training.checkpoint import ConvertingCheckpointLoadMixin
from currvl.training.reliability import ReliableTrainerMixin
from currvl.training.trl_hooks import TRAINER_HOOKS, check_trl_hooks


class CurrvlSFTTrainer(ReliableTrainerMixin, ConvertingCheckpointLoadMixin, SFTTrainer):
    """`trl.SFTTrainer`; prompt-completion rows make its collator mask the prompt out of the loss."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check_trl_hooks(SFTTrainer, TRAINER_HOOKS)  # the checkpoint mixins override private Trainer methods
        super().__init__(*args, **kwargs)
