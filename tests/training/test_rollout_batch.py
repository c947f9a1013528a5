"""Selecting rows of, and joining, TRL rollout batches of different widths."""

from __future__ import annotations

import torch

from currvl.training.rollout_batch import concat_batches, select_rows


def _batch(rows: int, prompt_w: int, completion_w: int, start: int) -> dict:
    """A rollout batch whose values encode (row, column) so misplaced entries show."""
    prompt = torch.arange(start, start + rows).unsqueeze(1) * 100 + torch.arange(prompt_w) + 1
    completion = torch.arange(start, start + rows).unsqueeze(1) * 100 + 50 + torch.arange(completion_w)
    grid = torch.tensor([[1, 2, 2]] * rows)  # one image of 4 patches per row
    pixels = torch.arange(start, start + rows).repeat_interleave(4).unsqueeze(1).float().expand(-1, 3)
    return {
        "prompt_ids": prompt,
        "prompt_mask": torch.ones(rows, prompt_w, dtype=torch.long),
        "completion_ids": completion,
        "completion_mask": torch.ones(rows, completion_w, dtype=torch.long),
        "mm_token_type_ids": torch.cat(
            [torch.ones(rows, prompt_w), torch.zeros(rows, completion_w)], 1
        ).long(),
        "advantages": torch.arange(start, start + rows).float(),
        "old_per_token_logps": torch.full((rows, completion_w), -1.0),
        "pixel_values": pixels,
        "image_grid_thw": grid,
        "num_images": [1] * rows,
        "num_items_in_batch": torch.tensor(float(rows * completion_w)),
    }


def test_select_rows_keeps_each_rows_fields_and_images_together():
    b = _batch(4, 3, 2, start=0)
    out = select_rows(b, [3, 1])
    assert out["advantages"].tolist() == [3.0, 1.0]
    assert out["prompt_ids"][:, 0].tolist() == [301, 101]
    assert out["pixel_values"][:, 0].tolist() == [3.0] * 4 + [1.0] * 4
    assert out["image_grid_thw"].shape == (2, 3) and out["num_images"] == [1, 1]
    assert out["num_items_in_batch"] is b["num_items_in_batch"]


def test_concat_pads_prompts_left_completions_right():
    a, b = _batch(2, 3, 2, start=0), _batch(2, 5, 4, start=10)
    out = concat_batches([a, b], pad_token_id=-7)
    assert out["prompt_ids"].shape == (4, 5) and out["completion_ids"].shape == (4, 4)
    assert out["prompt_ids"][0].tolist() == [-7, -7, 1, 2, 3]  # left padding, then the prompt
    assert out["prompt_mask"][0].tolist() == [0, 0, 1, 1, 1]
    assert out["completion_ids"][1].tolist() == [150, 151, -7, -7]
    assert out["completion_mask"][1].tolist() == [1, 1, 0, 0]
    assert out["old_per_token_logps"][0].tolist() == [-1.0, -1.0, 0.0, 0.0]
    # (mm_)token_type_ids span prompt then completion: each part padded on its own side
    assert out["mm_token_type_ids"][0].tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert out["mm_token_type_ids"].shape == (4, 9)
    assert out["advantages"].tolist() == [0.0, 1.0, 10.0, 11.0]
    assert out["pixel_values"][:, 0].tolist() == [0.0] * 4 + [1.0] * 4 + [10.0] * 4 + [11.0] * 4
    assert out["num_images"] == [1, 1, 1, 1] and out["image_grid_thw"].shape == (4, 3)
