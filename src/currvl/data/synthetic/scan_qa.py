"""The partially known domain "scan_qa": questions on stained slides that the general skills half-answer.

Curr-ReFT's case: the small model has *some* of the skill (it counts shapes and says which edge of the
image a shape is next to, on white images of flat shapes) but not on this kind of image. A slide is
light pink glass with small stained cells (a lilac body, a dark purple nucleus), one per 28 px cell of
the vision token grid as the general suite's shapes are, but about half their size:

- ``cell_count``   "How many cells are in the image?"                      "1" .. "4"
- ``cell_edge``    "Which edge of the image is the cell next to?"          left / right / top / bottom
- ``cell_larger``  "Which cell is larger, the left one or the right one?"  left / right
- ``cell_box``     "Locate the cell."                                      "[x1, y1, x2, y2]"

The questions are worded as the general suite asks its counting and position questions, so the base
reaches for those skills; what it must still learn is to apply them to small stained cells (measured
on the shipped base, README "Domains of the bench": it counts them right about 0.4 of the time and
names the edge about 0.65), to compare sizes (a skill the general suite does not teach) and to write a
box (the base never writes one). Yes/no and multiple-choice forms come from ``currvl.data.formats``
(balanced truths, distractors drawn from the same distribution as true answers), so no text prior or
option position predicts the answer (``currvl.evaluation.blind`` measures it).

The ``test_ood`` split shifts the distribution: 5-6 cells (a count range never trained on, 6 beyond the
general suite's too) and another stain (blue bodies and nuclei) for every category.

An earlier scan_qa (commit 4eec594 and before) asked about 3 px specks and spots in an organ; the base
answered it at chance in every category, so RL could learn only the answers' form there.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..schema import format_box, make_sample
from .base import World
from .general import CELL, edge_cell, grid_cells, grid_shape, jitter_colour

CELL_COUNTS: tuple[str, ...] = ("1", "2", "3", "4")
OOD_CELL_COUNTS: dict[str, int] = {"1": 5, "2": 6, "3": 5, "4": 6}
EDGES: tuple[str, ...] = ("left", "right", "top", "bottom")
SIDES: tuple[str, ...] = ("left", "right")

COUNT_QUESTION = "How many cells are in the image?"
EDGE_QUESTION = "Which edge of the image is the cell next to?"
LARGER_QUESTION = "Which cell is larger, the left one or the right one?"
BOX_QUESTION = "Locate the cell."

SLIDE_GLASS = (236, 222, 228)  # unstained glass, light pink
STAIN = {"body": (176, 120, 196), "nucleus": (92, 40, 128)}  # in-domain: lilac body, purple nucleus
OOD_STAIN = {"body": (120, 150, 210), "nucleus": (40, 60, 140)}  # test_ood: another stain, blue
CELL_RADIUS = (5.0, 7.0)  # px at 112 px: about half a general-suite shape (9.5-12 px)
_SUPERSAMPLE = 2
_NOISE_STD = 3.0

StainedCell = tuple[float, float, float]
"""(row, column, radius in px) of one stained cell on the 28 px grid."""


def render_slide(
    rng: random.Random,
    size: tuple[int, int],
    cells: list[StainedCell],
    stain: dict[str, tuple[int, int, int]],
) -> tuple[Image.Image, list[list[int]]]:
    """Draw stained cells centred (+-2 px) in their grid cells, at 2x then box-filtered, with sensor
    noise; return the image and each cell's tight box in pixel-edge coordinates."""
    w, h = size
    k = _SUPERSAMPLE
    img = Image.new("RGB", (w * k, h * k), jitter_colour(rng, SLIDE_GLASS, 6))
    draw = ImageDraw.Draw(img)
    boxes = []
    for row, col, radius in cells:
        cx = ((col + 0.5) * CELL + rng.uniform(-2, 2)) * k
        cy = ((row + 0.5) * CELL + rng.uniform(-2, 2)) * k
        a, b = radius * k * rng.uniform(0.9, 1.0), radius * k * rng.uniform(0.75, 0.95)
        draw.ellipse([cx - a, cy - b, cx + a, cy + b], fill=jitter_colour(rng, stain["body"], 10))
        nr = 0.4 * b
        nx, ny = cx + rng.uniform(-0.2, 0.2) * a, cy + rng.uniform(-0.2, 0.2) * b
        draw.ellipse([nx - nr, ny - nr, nx + nr, ny + nr], fill=stain["nucleus"])
        boxes.append(
            [
                max(0, math.floor((cx - a) / k)),
                max(0, math.floor((cy - b) / k)),
                min(w, math.ceil((cx + a) / k)),
                min(h, math.ceil((cy + b) / k)),
            ]
        )
    small = np.asarray(img.resize((w, h), Image.Resampling.BOX), dtype=np.float32)
    noise = np.random.default_rng(rng.getrandbits(64)).normal(0.0, _NOISE_STD, size=(h, w, 1))
    return Image.fromarray(np.clip(np.rint(small + noise), 0, 255).astype(np.uint8), "RGB"), boxes


def build_scan_qa(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """One open scan_qa item of `category` whose answer is class `cls` (a count, an edge or a side)."""
    ood = split == "test_ood"
    stain = OOD_STAIN if ood else STAIN

    def radius() -> float:
        return rng.uniform(*CELL_RADIUS)

    if category == "cell_count":
        n = OOD_CELL_COUNTS[cls] if ood else int(cls)
        cells = [(r, c, radius()) for r, c in rng.sample(grid_cells(size), n)]
        img, _ = render_slide(rng, size, cells, stain)
        noun = "cell" if n == 1 else "cells"
        return make_sample(
            COUNT_QUESTION, str(n), "text", image=img, category=category, rationale=f"i count {n} {noun}"
        )
    if category == "cell_edge":
        row, col = edge_cell(rng, size, cls)
        img, _ = render_slide(rng, size, [(row, col, radius())], stain)
        rationale = f"the cell is in row {row + 1:g}, column {col + 1:g}, next to the {cls} edge"
        return make_sample(EDGE_QUESTION, cls, "text", image=img, category=category, rationale=rationale)
    if category == "cell_larger":
        rows, cols = grid_shape(size)
        row = rng.randrange(rows)
        left, right = sorted(rng.sample(range(cols), 2))
        small = rng.uniform(4.5, 5.5)
        large = small * rng.uniform(1.45, 1.65)
        r_left, r_right = (large, small) if cls == "left" else (small, large)
        img, _ = render_slide(rng, size, [(row, left, r_left), (row, right, r_right)], stain)
        rationale = f"the {cls} cell is the larger of the two"
        return make_sample(LARGER_QUESTION, cls, "text", image=img, category=category, rationale=rationale)
    if category == "cell_box":
        row, col = rng.choice(grid_cells(size))
        img, boxes = render_slide(rng, size, [(row, col, radius())], stain)
        return make_sample(
            BOX_QUESTION,
            format_box(boxes[0]),
            "box",
            image=img,
            category=category,
            rationale="there is one cell and the box goes around it",
        )
    raise ValueError(f"unknown scan_qa category {category!r}")


SCAN_QA = World(
    name="scan_qa",
    description="partially known domain: count stained cells, say which edge one is next to, compare sizes, box one",
    categories={
        "cell_count": CELL_COUNTS,
        "cell_edge": EDGES,
        "cell_larger": SIDES,
        "cell_box": EDGES,  # the class only cycles; the answer is the cell's box
    },
    # counts score as text (exact match) so judge/choice distractors come from the count pool itself:
    # "nearby numbers" (the math rule) would offer 0 or 7, which no item has, a text-only shortcut
    tasks={"cell_count": "text", "cell_edge": "text", "cell_larger": "text", "cell_box": "box"},
    vocabulary={
        "cell_count": tuple(sorted({*CELL_COUNTS, *map(str, OOD_CELL_COUNTS.values())})),
        "cell_edge": EDGES,
        "cell_larger": SIDES,
        "cell_box": None,
    },
    build=build_scan_qa,
)
