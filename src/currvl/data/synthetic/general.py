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
POSITIONS: tuple[str, ...] = ("left", "right", "above", "below")
OPERATIONS: tuple[str, ...] = ("add", "subtract")
ARITHMETIC_ANSWERS: tuple[str, ...] = tuple(str(v) for v in range(19))

SHAPE_RATIONALES: dict[str, str] = {
    "circle": "the shape is round and has no corners",
    "square": "the shape has four equal sides and four corners",
    "triangle": "the shape has three corners",
    "star": "the shape has five sharp points",
    "cross": "the shape is two bars crossing in the middle",
}

_SUPERSAMPLE = 2
_COLOR_JITTER = 12
# Arithmetic stands for *recalled knowledge* (facts a pretrained model has memorised): every split
# draws from the same ~100 small facts on purpose, so the held-out test measures whether a fact is
# still remembered after domain tuning (forgetting), not whether a tiny model can infer unseen sums.
_MAX_ADDEND = 6
_MAX_MINUEND = 9


def _jitter(rng: random.Random, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Vary a base colour slightly so colour is a category, not a single pixel value."""
    return tuple(min(255, max(0, c + rng.randint(-_COLOR_JITTER, _COLOR_JITTER))) for c in rgb)  # type: ignore[return-value]


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


def _draw_shape(
    draw: ImageDraw.ImageDraw, rng: random.Random, kind: str, cx: float, cy: float, r: float, fill: tuple
) -> None:
    """Draw one flat shape on the supersampled canvas (coordinates given at output scale)."""
    k = _SUPERSAMPLE
    if kind == "circle":
        rr = 0.9 * r * k
        draw.ellipse([cx * k - rr, cy * k - rr, cx * k + rr, cy * k + rr], fill=fill)
        return
    angle = math.radians(rng.uniform(-12, 12))
    draw.polygon(shape_polygon(kind, cx * k, cy * k, r * k, angle), fill=fill)


def _render(
    rng: random.Random, size: tuple[int, int], shapes: list[tuple[str, str, float, float, float]]
) -> Image.Image:
    """Render (kind, colour name, cx, cy, r) shapes; drawn at 2x then box-filtered for clean edges."""
    w, h = size
    img = Image.new("RGB", (w * _SUPERSAMPLE, h * _SUPERSAMPLE), _background(rng))
    draw = ImageDraw.Draw(img)
    for kind, color, cx, cy, r in shapes:
        _draw_shape(draw, rng, kind, cx, cy, r, _jitter(rng, COLORS[color]))
    return img.resize((w, h), Image.Resampling.BOX)


def _place(
    rng: random.Random, size: tuple[int, int], radii: list[float], tries: int = 400
) -> list[tuple[float, float]] | None:
    """Centres for non-overlapping discs of the given radii fully inside the image (None if stuck)."""
    w, h = size
    gap = 0.04 * min(w, h)
    centres: list[tuple[float, float]] = []
    for r in radii:
        lo_x, hi_x, lo_y, hi_y = r + gap, w - r - gap, r + gap, h - r - gap
        if lo_x > hi_x or lo_y > hi_y:
            return None
        for _ in range(tries):
            x, y = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
            if all(
                math.hypot(x - px, y - py) >= r + pr + gap
                for (px, py), pr in zip(centres, radii, strict=False)
            ):
                centres.append((x, y))
                break
        else:
            return None
    return centres


def _single(rng: random.Random, size: tuple[int, int], kind: str, color: str) -> Image.Image:
    """One large shape somewhere in the image."""
    r = rng.uniform(0.22, 0.32) * min(size)
    (cx, cy), *_ = _place(rng, size, [r]) or [(size[0] / 2, size[1] / 2)]
    return _render(rng, size, [(kind, color, cx, cy, r)])


def _count_image(rng: random.Random, size: tuple[int, int], n: int) -> Image.Image:
    """n separate shapes; half the time all alike, otherwise mixed kinds and colours."""
    same = rng.random() < 0.5
    kind0, color0 = rng.choice(SHAPES), rng.choice(list(COLORS))
    scale = 1.0
    while True:
        radii = [rng.uniform(0.09, 0.13) * min(size) * scale for _ in range(n)]
        centres = _place(rng, size, radii)
        if centres is not None:
            break
        scale *= 0.9
    shapes = [
        (kind0 if same else rng.choice(SHAPES), color0 if same else rng.choice(list(COLORS)), x, y, r)
        for (x, y), r in zip(centres, radii, strict=True)
    ]
    return _render(rng, size, shapes)


def _position_image(
    rng: random.Random, size: tuple[int, int], relation: str, first: str, second: str
) -> Image.Image:
    """Two shapes clearly apart along the asked axis and roughly aligned along the other."""
    w, h = size
    horizontal = relation in ("left", "right")
    for _ in range(500):
        r1, r2 = (rng.uniform(0.12, 0.17) * min(size) for _ in range(2))
        pts = _place(rng, size, [r1, r2])
        if pts is None:
            continue
        (x1, y1), (x2, y2) = pts
        along, across = (x2 - x1, y2 - y1) if horizontal else (y2 - y1, x2 - x1)
        if abs(along) >= r1 + r2 + 0.05 * min(size) and abs(across) <= 0.35 * abs(along):
            break
    else:  # practically unreachable; a fixed clear layout keeps generation total
        r1 = r2 = 0.15 * min(size)
        x1, y1, x2, y2 = (
            (0.27 * w, 0.5 * h, 0.73 * w, 0.5 * h) if horizontal else (0.5 * w, 0.27 * h, 0.5 * w, 0.73 * h)
        )
        along = 1.0
    # The first-named shape is left of / above the other exactly when the relation says so.
    first_low = relation in ("left", "above")
    a, b = ((x1, y1, r1), (x2, y2, r2)) if (along > 0) == first_low else ((x2, y2, r2), (x1, y1, r1))
    return _render(
        rng,
        size,
        [(rng.choice(SHAPES), first, a[0], a[1], a[2]), (rng.choice(SHAPES), second, b[0], b[1], b[2])],
    )


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
    if category == "color":
        img = _single(rng, size, rng.choice(SHAPES), cls)
        return make_sample(
            "What color is the shape?",
            cls,
            "text",
            image=img,
            category=category,
            rationale=f"the shape is {cls}",
        )
    if category == "shape":
        img = _single(rng, size, cls, rng.choice(list(COLORS)))
        return make_sample(
            "What shape is shown?", cls, "text", image=img, category=category, rationale=SHAPE_RATIONALES[cls]
        )
    if category == "count":
        n = int(cls)
        img = _count_image(rng, size, n)
        noun = "shape" if n == 1 else "shapes"
        return make_sample(
            "How many shapes are there?",
            cls,
            "math",
            image=img,
            category=category,
            rationale=f"i count {n} {noun}",
        )
    if category == "position":
        first, second = rng.sample(list(COLORS), 2)
        img = _position_image(rng, size, cls, first, second)
        if cls in ("left", "right"):
            question = f"Is the {first} shape left or right of the {second} shape?"
            side = "further to the left" if cls == "left" else "further to the right"
        else:
            question = f"Is the {first} shape above or below the {second} shape?"
            side = "higher up" if cls == "above" else "lower down"
        rationale = f"the {first} shape is {side} than the {second} shape"
        return make_sample(question, cls, "text", image=img, category=category, rationale=rationale)
    if category == "arithmetic":
        a, b = rng.choice(arithmetic_pool(cls, split))
        if cls == "add":
            question, answer, rationale = f"What is {a} + {b}?", a + b, f"{a} plus {b} makes {a + b}"
        else:
            question, answer, rationale = f"What is {a} - {b}?", a - b, f"{a} minus {b} leaves {a - b}"
        return make_sample(question, str(answer), "math", category=category, rationale=rationale)
    raise ValueError(f"unknown general category {category!r}")


GENERAL = World(
    name="general",
    description="general skills a pretrained VLM has: colour, shape, counting, relative position, sums",
    categories={
        "color": tuple(COLORS),
        "shape": SHAPES,
        "count": COUNTS,
        "position": POSITIONS,
        "arithmetic": OPERATIONS,
    },
    tasks={"color": "text", "shape": "text", "count": "math", "position": "text", "arithmetic": "math"},
    vocabulary={
        "color": tuple(COLORS),
        "shape": SHAPES,
        "count": COUNTS,
        "position": POSITIONS,
        "arithmetic": ARITHMETIC_ANSWERS,
    },
    build=build_general,
)
