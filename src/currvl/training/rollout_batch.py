"""Pick rows out of, and join, the rollout batches TRL's GRPOTrainer builds (the dict that
``_generate_and_score_completions`` returns), for dynamic sampling's replacement rounds.

Such a batch holds per-row tensors padded to its own widths: prompt fields left-padded, completion
fields right-padded, ``(mm_)token_type_ids`` spanning both; image patches stacked per image. Rows are
selected after splitting the patches per row (TRL's own helper), and batches are joined after padding
every field to the widest batch on the side it is padded on.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from trl.trainer.utils import split_pixel_values_by_grid, unsplit_pixel_values_by_grid

PROMPT_FIELDS = ("prompt_ids", "prompt_mask")
SPANNING_FIELDS = ("token_type_ids", "mm_token_type_ids")  # prompt part, then completion part


def num_rows(batch: dict[str, Any]) -> int:
    return batch["completion_ids"].shape[0]


def _is_row_tensor(value: Any, n: int) -> bool:
    return isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == n


def _is_row_list(value: Any, n: int) -> bool:
    return isinstance(value, list) and len(value) == n


def select_rows(batch: dict[str, Any], rows: list[int]) -> dict[str, Any]:
    """The batch restricted to `rows` (in that order); scalars (``num_items_in_batch``) kept as they are."""
    n = num_rows(batch)
    split = split_pixel_values_by_grid(batch)
    out: dict[str, Any] = {}
    for key, value in split.items():
        if _is_row_tensor(value, n):
            out[key] = value[torch.as_tensor(rows, dtype=torch.long, device=value.device)]
        elif _is_row_list(value, n):
            out[key] = [value[i] for i in rows]
        else:
            out[key] = value
    return unsplit_pixel_values_by_grid(out)


def _pad(x: torch.Tensor, width: int, left: bool, value: float | int = 0) -> torch.Tensor:
    missing = width - x.shape[1]
    if missing <= 0:
        return x
    return F.pad(x, (missing, 0) if left else (0, missing), value=value)


def concat_batches(batches: list[dict[str, Any]], pad_token_id: int = 0) -> dict[str, Any]:
    """The rows of all `batches` in order, every field padded to the widest batch; scalars taken
    from the first batch (the caller recomputes those that depend on the rows)."""
    if len(batches) == 1:
        return batches[0]
    prompt_w = max(b["prompt_ids"].shape[1] for b in batches)
    completion_w = max(b["completion_ids"].shape[1] for b in batches)
    splits = [split_pixel_values_by_grid(b) for b in batches]
    n0 = num_rows(batches[0])
    out: dict[str, Any] = {}
    for key, first in splits[0].items():
        values = [s[key] for s in splits]
        if _is_row_tensor(first, n0):
            if first.ndim >= 2 and key in PROMPT_FIELDS:
                pad_value = pad_token_id if key == "prompt_ids" else 0
                values = [_pad(v, prompt_w, left=True, value=pad_value) for v in values]
            elif first.ndim >= 2 and key in SPANNING_FIELDS:
                values = [
                    torch.cat(
                        [
                            _pad(v[:, : b["prompt_ids"].shape[1]], prompt_w, left=True),
                            _pad(v[:, b["prompt_ids"].shape[1] :], completion_w, left=False),
                        ],
                        dim=1,
                    )
                    for v, b in zip(values, batches, strict=True)
                ]
            elif first.ndim >= 2 and first.shape[1] == batches[0]["completion_ids"].shape[1]:
                pad_value = pad_token_id if key == "completion_ids" else 0
                values = [_pad(v, completion_w, left=False, value=pad_value) for v in values]
            out[key] = torch.cat(values, dim=0)
        elif _is_row_list(first, n0):
            out[key] = [item for v in values for item in v]
        else:
            out[key] = first
    return unsplit_pixel_values_by_grid(out)
