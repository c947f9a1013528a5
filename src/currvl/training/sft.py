"""SFT trainer: TRL's SFTTrainer (prompt-completion data, loss on the answer only) with safe resume,
atomic checkpoints, clean interruption and a non-finite loss guard (`currvl.training.reliability`)."""

from __future__ import annotations

from trl import SFTTrainer

from currvl.training.checkpoint import ConvertingCheckpointLoadMixin
from currvl.training.reliability import ReliableTrainerMixin


class CurrvlSFTTrainer(ReliableTrainerMixin, ConvertingCheckpointLoadMixin, SFTTrainer):
    """`trl.SFTTrainer`; prompt-completion rows make its collator mask the prompt out of the loss."""
