"""The general suite: easy skills a pretrained VLM already has (colour, shape, counting, layout, sums).

It stands in for the abilities domain fine-tuning must not destroy, so its answer vocabulary never
overlaps the specialised domain's. Images are flat shapes on a light background, drawn at 2x and
box-filtered down so edges are smooth but cheap to make.
"""

from __future__ import annotations

import math
import random
from functools import cache
from typing import Any

from PIL import Image, ImageDraw

from ..schema import make_sample
from .base import SPLITS, World

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (30, 155, 55),
    "blue": (35, 80, 215),
    "yellow": (235, 195, 20),
    "purple": (135, 50, 185),
    "orange": (245, 130, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
COUNTS: tuple[str, ...] = ("1", "2", "3", "4", "5")
POSITIONS: tuple[str, ...] = ("left", "right", "top", "bottom")
OPERATIONS: tuple[str, ...] = ("add", "subtract")
ARITHMETIC_ANSWERS: tuple[str, ...] = tuple(str(v) for v in range(19))

QUESTIONS: dict[str, tuple[str, ...]] = {
    "color": (
        "What color is the shape?",
        "What colour is the object?",
        "Which color does the shape in the picture have?",
        "What is the color of the figure in the image?",
    ),
    "shape": (
        "What shape is shown?",
        "What shape is the object?",
        "Which shape is in the picture?",
        "What kind of figure is in the image?",
    ),
    "count": (
        "How many shapes are there?",
        "How many objects are in the image?",
        "Count the figures in the picture.",
        "How many things can you see in the image?",
    ),
    "position": (
        "Which edge of the image is the shape next to?",
        "Which side of the picture is the object on?",
        "Is the shape at the left, the right, the top or the bottom of the image?",
        "Where in the image is the figure: left, right, top or bottom?",
    ),
}
"""Several wordings per skill, as in real instruction data: the base learns the skill, not one string,
so a question worded its own way (a domain's "How many cells are in the image?") still
reaches it."""
ARITHMETIC_QUESTIONS: dict[str, tuple[str, ...]] = {
    "add": ("What is {a} + {b}?", "How much is {a} plus {b}?", "Compute {a} + {b}."),
    "subtract": (
        "What is {a} - {b}?",
        "How much is {a} minus {b}?",
        "Compute {a} - {b}.",
    ),
}

SHAPE_RATIONALES: dict[str, str] = {
    "circle": "the shape is round and has no corners, so it is a circle",
    "square": "the shape has four equal sides and four corners, so it is a square",
    "triangle": "the shape has three corners, so it is a triangle",
    "star": "the shape has five sharp points, so it is a star",
    "cross": "the shape is two bars crossing in the middle, so it is a cross",
}

CELL = 28
"""Objects sit one per cell of a 28 px grid: one cell is one Qwen2.5-VL vision token (14 px patches
merged 2x2), the way a real VLM's objects span whole patches, so a tiny vision tower can see them."""
_SUPERSAMPLE = 2
_COLOR_JITTER = 12
# Arithmetic stands for *recalled knowledge* (facts a pretrained model has memorised): every split
# draws from the same ~100 small facts on purpose, so the held-out test measures whether a fact is
# still remembered after domain tuning (forgetting), not whether a tiny model can infer unseen sums.
_MAX_ADDEND = 6
_MAX_MINUEND = 9

SceneObject = tuple[float, float, str, str]
"""(row, column, shape, colour name) of one object on the grid (whole cells but for tiny grids)."""


def jitter_colour(
    rng: random.Random, rgb: tuple[int, int, int], by: int = _COLOR_JITTER
) -> tuple[int, int, int]:
    """Vary a base colour slightly (each channel by up to `by`) so colour is a category, not a single
    pixel value."""
    return tuple(min(255, max(0, c + rng.randint(-by, by))) for c in rgb)  # type: ignore[return-value]


def _background(rng: random.Random) -> tuple[int, int, int]:
    """A near-white, faintly tinted background."""
    base = rng.randint(236, 252)
    return tuple(min(255, base + rng.randint(-4, 3)) for _ in range(3))  # type: ignore[return-value]


def shape_polygon(kind: str, cx: float, cy: float, r: float, angle: float = 0.0) -> list[tuple[float, float]]:
    """Outline of a shape that fits in the circle of radius ``r`` around (cx, cy); circle excluded."""
    if kind == "square":
        h = 0.68 * r
        pts = [(-h, -h), (h, -h), (h, h), (-h, h)]
    elif kind == "triangle":
        pts = [(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        pts = [(x, y + 0.2 * r) for x, y in pts]  # centre the visual mass, still inside the circle
    elif kind == "star":
        pts = []
        for i in range(10):
            rad = r if i % 2 == 0 else 0.42 * r
            a = -math.pi / 2 + i * math.pi / 5
            pts.append((rad * math.cos(a), rad * math.sin(a)))
    elif kind == "cross":
        arm, half = 0.9 * r, 0.3 * r
        pts = [
            (-half, -arm), (half, -arm), (half, -half), (arm, -half), (arm, half), (half, half),
            (half, arm), (-half, arm), (-half, half), (-arm, half), (-arm, -half), (-half, -half),
        ]  # fmt: skip
    else:
        raise ValueError(f"unknown shape {kind!r}")
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in pts]


def grid_shape(size: tuple[int, int]) -> tuple[int, int]:
    """(rows, columns) of the object grid of an image of `size` (width, height)."""
    return max(1, size[1] // CELL), max(1, size[0] // CELL)


def render_scene(rng: random.Random, size: tuple[int, int], objects: list[SceneObject]) -> Image.Image:
    """Draw objects centred (+-2 px) in their cells, at 2x then box-filtered for clean edges."""
    w, h = size
    k = _SUPERSAMPLE
    img = Image.new("RGB", (w * k, h * k), _background(rng))
    draw = ImageDraw.Draw(img)
    for row, col, kind, color in objects:
        cx = ((col + 0.5) * CELL + rng.uniform(-2, 2)) * k
        cy = ((row + 0.5) * CELL + rng.uniform(-2, 2)) * k
        r = rng.uniform(9.5, 12.0) * k
        fill = jitter_colour(rng, COLORS[color])
        if kind == "circle":
            draw.ellipse([cx - 0.9 * r, cy - 0.9 * r, cx + 0.9 * r, cy + 0.9 * r], fill=fill)
        else:
            draw.polygon(
                shape_polygon(kind, cx, cy, r, math.radians(rng.uniform(-12, 12))),
                fill=fill,
            )
    return img.resize((w, h), Image.Resampling.BOX)


def grid_cells(size: tuple[int, int]) -> list[tuple[int, int]]:
    """Every (row, column) of the object grid, row by row."""
    rows, cols = grid_shape(size)
    return [(r, c) for r in range(rows) for c in range(cols)]


def random_scene(rng: random.Random, size: tuple[int, int], max_objects: int = 6) -> list[SceneObject]:
    """0..max_objects objects of random shape and colour in distinct cells (vision pretraining)."""
    cells = grid_cells(size)
    chosen = rng.sample(cells, rng.randint(0, min(max_objects, len(cells))))
    return [(r, c, rng.choice(SHAPES), rng.choice(list(COLORS))) for r, c in chosen]


def _count_scene(rng: random.Random, size: tuple[int, int], n: int) -> list[SceneObject]:
    """n objects in distinct cells; half the time all alike, otherwise mixed kinds and colours."""
    same = rng.random() < 0.5
    kind0, color0 = rng.choice(SHAPES), rng.choice(list(COLORS))
    return [
        (
            r,
            c,
            kind0 if same else rng.choice(SHAPES),
            color0 if same else rng.choice(list(COLORS)),
        )
        for r, c in rng.sample(grid_cells(size), n)
    ]


def edge_cell(rng: random.Random, size: tuple[int, int], side: str) -> tuple[float, float]:
    """A cell on the `side` edge of the grid that is no corner (so only one edge is near it); on a
    grid two cells wide the object sits halfway along the edge instead."""
    rows, cols = grid_shape(size)
    along_rows = side in ("left", "right")
    n = rows if along_rows else cols
    middle = float(rng.randint(1, n - 2)) if n >= 3 else (n - 1) / 2
    if side == "left":
        return middle, 0
    if side == "right":
        return middle, cols - 1
    if side == "top":
        return 0, middle
    if side == "bottom":
        return rows - 1, middle
    raise ValueError(f"unknown side {side!r}")


@cache
def arithmetic_pool(operation: str, split: str) -> tuple[tuple[int, int], ...]:
    """The (a, b) pairs a split may use: the same facts for every split (see `_MAX_ADDEND`)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    if operation == "add":
        return tuple((a, b) for a in range(_MAX_ADDEND + 1) for b in range(_MAX_ADDEND + 1))
    return tuple((a, b) for a in range(_MAX_MINUEND + 1) for b in range(a + 1))


def build_general(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """One general-suite sample of the given category and class (no id yet)."""
    if category == "arithmetic":
        a, b = rng.choice(arithmetic_pool(cls, split))
        question = rng.choice(ARITHMETIC_QUESTIONS[cls]).format(a=a, b=b)
        answer, rationale = (
            (a + b, f"{a} plus {b} makes {a + b}")
            if cls == "add"
            else (a - b, f"{a} minus {b} leaves {a - b}")
        )
        return make_sample(question, str(answer), "math", category=category, rationale=rationale)
    if category not in QUESTIONS:
        raise ValueError(f"unknown general category {category!r}")
    question = rng.choice(QUESTIONS[category])
    if category == "color":
        img = render_scene(rng, size, [(*rng.choice(grid_cells(size)), rng.choice(SHAPES), cls)])
        return make_sample(
            question,
            cls,
            "text",
            image=img,
            category=category,
            rationale=f"the shape is {cls}",
        )
    if category == "shape":
        img = render_scene(rng, size, [(*rng.choice(grid_cells(size)), cls, rng.choice(list(COLORS)))])
        return make_sample(
            question,
            cls,
            "text",
            image=img,
            category=category,
            rationale=SHAPE_RATIONALES[cls],
        )
    if category == "count":
        n = int(cls)
        img = render_scene(rng, size, _count_scene(rng, size, n))
        noun = "shape" if n == 1 else "shapes"
        return make_sample(
            question,
            cls,
            "math",
            image=img,
            category=category,
            rationale=f"i count {n} {noun}",
        )
    row, col = edge_cell(rng, size, cls)
    img = render_scene(rng, size, [(row, col, rng.choice(SHAPES), rng.choice(list(COLORS)))])
    # grounded reasoning: where the shape sits (1-based row and column), then the edge it is next to
    rationale = f"the shape is in row {row + 1:g}, column {col + 1:g}, next to the {cls} edge"
    return make_sample(question, cls, "text", image=img, category=category, rationale=rationale)


GENERAL = World(
    name="general",
    description="general skills a pretrained VLM has: colour, shape, counting, where a shape lies, sums",
    categories={
        "color": tuple(COLORS),
        "shape": SHAPES,
        "count": COUNTS,
        "position": POSITIONS,
        "arithmetic": OPERATIONS,
    },
    tasks={
        "color": "text",
        "shape": "text",
        "count": "math",
        "position": "text",
        "arithmetic": "math",
    },
    vocabulary={
        "color": tuple(COLORS),
        "shape": SHAPES,
        "count": COUNTS,
        "position": POSITIONS,
        "arithmetic": ARITHMETIC_ANSWERS,
    },
    build=build_general,
)
