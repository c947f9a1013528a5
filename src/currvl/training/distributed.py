"""Several processes, one model: what only shows when a recipe runs under `accelerate launch`.

Data-parallel training (DDP, on GPUs or on CPUs with gloo) keeps a full copy of the weights on every
rank, and every rank must step them identically: a rank that skipped an update, took another
curriculum stage or another batch size drifts silently. `RankAgreementCallback` measures it at every
step end: each rank reduces its weights to two numbers (their sum and the sum of their squares, in
float64), the ranks gather them, and `dist/weights_spread` (the largest difference between ranks,
relative to the weights' size) is logged, 0 when they agree. Sharded engines (FSDP, DeepSpeed ZeRO)
hold no full copy per rank, so the check is off there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

SPREAD_KEY = "dist/weights_spread"


def is_main_process() -> bool:
    """Rank 0 of a launched run (torchrun / accelerate set RANK), or the only process. Usable before
    the process group exists: the run's folder is claimed before the trainer joins the ranks."""
    return int(os.environ.get("RANK", "0")) == 0


CLAIM_FILE = ".currvl-launch"
"""Written by rank 0 into a run's folder once it is ready: the launcher's process id, which every rank
of one launch shares as its parent."""


def claim_for_launch(out: Path) -> None:
    """Rank 0: the folder is ready for this launch (a no-op without a launcher)."""
    if "RANK" in os.environ:
        (out / CLAIM_FILE).write_text(str(os.getppid()))


def wait_for_claim(out: Path, timeout_s: float = 600.0, poll_s: float = 0.2) -> None:
    """Other ranks on rank 0's machine: wait until rank 0 has claimed `out` for this launch (ranks on
    other machines share no parent process with it and go on)."""
    if int(os.environ.get("GROUP_RANK", os.environ.get("NODE_RANK", "0"))) != 0:
        return
    deadline = time.monotonic() + timeout_s
    marker = out / CLAIM_FILE
    while time.monotonic() < deadline:
        try:
            if marker.read_text() == str(os.getppid()):
                return
        except (FileNotFoundError, NotADirectoryError):
            pass
        time.sleep(poll_s)
    raise TimeoutError(
        f"rank {os.environ.get('RANK')}: {out} was not prepared by rank 0 in {timeout_s:.0f} s"
    )


def is_distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def process_rank_and_count() -> tuple[int, int]:
    """(rank, world size) of the joined process group, (0, 1) outside one."""
    if not is_distributed():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def barrier() -> None:
    """Wait for every process of the joined group (a no-op outside one)."""
    if is_distributed() and torch.distributed.get_world_size() > 1:
        torch.distributed.barrier()


def end_process_group() -> None:
    """Leave the joined group cleanly at the end of a finished launch: every process waits for the
    others, then the group is destroyed. Without it, a process can exit while gloo's threads are still
    live and abort at teardown ("terminate called without an active exception", exit -6) after its run
    has finished and saved."""
    if is_distributed():
        barrier()
        torch.distributed.destroy_process_group()


def weights_fingerprint(model: torch.nn.Module) -> torch.Tensor:
    """(2,) float64: the sum and the sum of squares of every parameter (order-free, cheap)."""
    total = torch.zeros(2, dtype=torch.float64)
    for p in model.parameters():
        data = p.detach().to(torch.float64)
        total += torch.stack([data.sum(), data.square().sum()]).cpu()
    return total


def is_sharded(model: torch.nn.Module) -> bool:
    """FSDP2 parameters are DTensors (`to_local`); DeepSpeed ZeRO-3 leaves placeholders (`ds_numel`)."""
    return any(hasattr(p, "to_local") or hasattr(p, "ds_numel") for p in model.parameters())


def rank_spread(fingerprints: torch.Tensor) -> float:
    """Largest difference between ranks' fingerprints (ranks x 2), relative to their magnitude."""
    scale = fingerprints.abs().amax(dim=0).clamp(min=1e-12)
    return ((fingerprints.amax(dim=0) - fingerprints.amin(dim=0)) / scale).max().item()


class RankAgreementCallback(TrainerCallback):
    """Logs `dist/weights_spread` at each logging step of a data-parallel run with several processes."""

    def __init__(self) -> None:
        self.spread: float | None = None

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if model is None or not is_distributed() or torch.distributed.get_world_size() < 2:
            return
        if getattr(args, "deepspeed", None) or getattr(args, "fsdp", None) or is_sharded(model):
            return  # sharded: no full copy per rank to compare
        local = weights_fingerprint(model)
        if torch.distributed.get_backend() == "nccl":  # NCCL gathers device tensors only
            local = local.to(next(model.parameters()).device)
        gathered = [torch.zeros_like(local) for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather(gathered, local)
        self.spread = rank_spread(torch.stack(gathered).cpu())

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs):
        if logs is not None and self.spread is not None and "loss" in logs:
            logs[SPREAD_KEY] = self.spread
