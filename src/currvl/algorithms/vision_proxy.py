"""The vision tower's proxy objective of base pretraining: per-token linear heads read colour, shape,
row, column, neighbour directions and the object count of freshly drawn grid scenes from the merged
vision tokens. The heads are dropped afterwards; the tower keeps what the general questions ask about.
"""

from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn.functional as F

from currvl.data.synthetic.general import COLORS, SHAPES, grid_shape, random_scene, render_scene
from currvl.data.synthetic.instructions import IMAGE_SIZE

MAX_SCENE_OBJECTS = 6


def vision_batch(seed: int, step: int, n: int) -> tuple[list[Any], dict[str, torch.Tensor]]:
    """Images of random grid scenes and their per-token labels (row-major, one token per cell)."""
    rows, cols = grid_shape((IMAGE_SIZE, IMAGE_SIZE))
    colors, shapes = list(COLORS), list(SHAPES)
    images, color, shape, rel, count = [], [], [], [], []
    for j in range(n):
        rng = random.Random(f"currvl/pretrain-vision/{seed}/{step}/{j}")
        objects = random_scene(rng, (IMAGE_SIZE, IMAGE_SIZE), MAX_SCENE_OBJECTS)
        images.append(render_scene(rng, (IMAGE_SIZE, IMAGE_SIZE), objects))
        c = torch.zeros(rows * cols, dtype=torch.long)
        s = torch.zeros(rows * cols, dtype=torch.long)
        r = torch.zeros(rows * cols, 4)
        for row, col, kind, name in objects:
            c[row * cols + col] = 1 + colors.index(name)
            s[row * cols + col] = 1 + shapes.index(kind)
            for row2, col2, _, _ in objects:  # is there another object left / right / above / below?
                r[row * cols + col] += torch.tensor(
                    [col2 < col, col2 > col, row2 < row, row2 > row], dtype=torch.float
                )
        color.append(c)
        shape.append(s)
        rel.append((r > 0).float())
        count.append(torch.full((rows * cols,), len(objects), dtype=torch.long))
    cells = torch.arange(rows * cols)
    labels = {
        "color": torch.cat(color),
        "shape": torch.cat(shape),
        "rel": torch.cat(rel),
        "count": torch.cat(count),
        "row": (cells // cols).repeat(n),
        "col": (cells % cols).repeat(n),
    }
    return images, labels


def vision_heads(hidden: int, seed: int) -> torch.nn.ModuleDict:
    rows, cols = grid_shape((IMAGE_SIZE, IMAGE_SIZE))
    torch.manual_seed(seed)
    return torch.nn.ModuleDict(
        {
            "color": torch.nn.Linear(hidden, len(COLORS) + 1),
            "shape": torch.nn.Linear(hidden, len(SHAPES) + 1),
            "rel": torch.nn.Linear(hidden, 4),
            "count": torch.nn.Linear(hidden, MAX_SCENE_OBJECTS + 1),
            "row": torch.nn.Linear(hidden, rows),
            "col": torch.nn.Linear(hidden, cols),
        }
    )


def vision_losses(
    features: torch.Tensor, heads: torch.nn.ModuleDict, labels: dict[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Per-head losses and accuracies; colour/shape/neighbours are read on object tokens only."""
    obj = labels["color"] > 0
    losses, accuracy = {}, {}
    for name, head in heads.items():
        logits = head(features)
        if name == "rel":
            losses[name] = F.binary_cross_entropy_with_logits(logits[obj], labels[name][obj])
            accuracy[name] = ((logits[obj] > 0).float() == labels[name][obj]).all(-1).float().mean().item()
            continue
        losses[name] = F.cross_entropy(logits, labels[name])
        hit = logits.argmax(-1) == labels[name]
        accuracy[name] = (hit[obj] if name in ("color", "shape") else hit).float().mean().item()
    return losses, accuracy
