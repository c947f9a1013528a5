"""SFT trainer: TRL's SFTTrainer (prompt-completion data, loss on the answer only) with safe resume."""

from __future__ import annotations

from trl import SFTTrainer

from currvl.training.checkpoint import ConvertingCheckpointLoadMixin


class CurrvlSFTTrainer(ConvertingCheckpointLoadMixin, SFTTrainer):
    """`trl.SFTTrainer`; prompt-completion rows make its collator mask the prompt out of the loss."""
