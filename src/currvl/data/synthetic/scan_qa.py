"""The partially known domain "scan_qa": questions on scans that the general abilities half-answer.

Curr-ReFT's case: the small model has *some* of the skill (it can count shapes, tell left from
right, compare sizes, point at an object in everyday images) but not on this kind of image. Each
item is an open question on a stained slide: a purple organ (a cell) with darker stained spots:

- ``speck_count``   "How many dark specks are in the organ?"              "1" .. "4"
- ``spot_side``     "Is the spot in the left or the right half of the organ?" "left" / "right"
- ``spot_larger``   "Which spot is larger, the left one or the right one?"  "left" / "right"
- ``spot_box``      "Locate the spot."                                      "[x1, y1, x2, y2]"

Yes/no and multiple-choice forms come from ``currvl.data.formats`` (balanced truths, distractors
drawn from the same distribution as true answers: other items' boxes, other counts), so no text
prior or option position predicts the answer (``currvl.evaluation.blind`` measures it).

The images are *stained slides* (``to_slide``): the painted scan's intensities mapped onto a light
pink background with the organ and the spots in a purple stain. The base's pretraining saw only
light backgrounds, so on slides its counting and position skills half-transfer (it reads "How many
dark specks ...?" as a count and answers from the image); on the report domain's dark scans it sees
nothing at all (measured: open 0.000 on dark scan_qa items, the base's count answer "0" for every
image). Light slides are the partially known domain, dark scans the knowledge-lacking one.

The ``test_ood`` split shifts the distribution: 5-6 specks (a count range never trained on) and
a smaller organ placed off centre (another layout).
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
from PIL import Image

from ..schema import format_box, make_sample
from .base import World
from .domain import _box_of, _disc, _Organ, blank_scan, sensor_readout

SPECK_COUNTS: tuple[str, ...] = ("1", "2", "3", "4")
OOD_SPECK_COUNTS: dict[str, int] = {"1": 5, "2": 6, "3": 5, "4": 6}
SIDES: tuple[str, ...] = ("left", "right")

COUNT_QUESTION = "How many dark specks are in the organ?"
SIDE_QUESTION = "Is the spot in the left or the right half of the organ?"
LARGER_QUESTION = "Which spot is larger, the left one or the right one?"
BOX_QUESTION = "Locate the spot."


SLIDE_BACKGROUND = np.array([235.0, 225.0, 230.0], dtype=np.float32)  # unstained glass, light pink
SLIDE_STAIN = np.array([90.0, 40.0, 120.0], dtype=np.float32)  # full stain, dark purple


def to_slide(img: np.ndarray, nprng: np.random.Generator) -> Image.Image:
    """A painted scan (grey, 0-255) as a stained slide: add the sensor noise, then map intensity to
    stain density (the dark frame becomes glass, the bright-painted spots the densest, darkest stain)."""
    density = (sensor_readout(img, nprng) / 255.0)[..., None]
    rgb = SLIDE_BACKGROUND * (1.0 - density) + SLIDE_STAIN * density
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


def _organ(rng: random.Random, width: int, height: int, ood: bool) -> _Organ:
    organ = _Organ(rng, width, height)
    if ood:  # another layout: a smaller organ pushed towards a corner
        s = min(width, height)
        organ.a, organ.b = organ.a * 0.8, organ.b * 0.8
        organ.cx += rng.choice((-1, 1)) * 0.08 * s
        organ.cy += rng.choice((-1, 1)) * 0.08 * s
    return organ


def _point_in_half(rng: random.Random, organ: _Organ, extent: float, side: str | None) -> tuple[float, float]:
    """A point with room for `extent` inside the organ, clearly in the given image half of it."""
    for _ in range(1000):
        x, y = organ.point_with_room(rng, extent)
        offset = x - organ.cx
        if side is None or (side == "left" and offset < -extent) or (side == "right" and offset > extent):
            return x, y
    raise RuntimeError("could not place a spot; the organ is too small for it")


def _specks(rng: random.Random, organ: _Organ, n: int, dot: float) -> list[tuple[float, float]]:
    dots: list[tuple[float, float]] = []
    min_sep = 4.0 * dot
    while len(dots) < n:
        for _ in range(300):
            p = organ.point_with_room(rng, dot + 1)
            if all(math.hypot(p[0] - q[0], p[1] - q[1]) >= min_sep for q in dots):
                dots.append(p)
                break
        else:
            min_sep *= 0.9
    return dots


def _paint_spot(
    rng: random.Random, img: np.ndarray, organ: _Organ, xx: np.ndarray, yy: np.ndarray, r: float, side: str
) -> np.ndarray:
    """Paint one spot of radius r in the given half of the organ; return its mask."""
    cx, cy = _point_in_half(rng, organ, r + 1, side)
    mask = _disc(xx, yy, cx, cy, r)
    img[mask] = rng.uniform(200, 235)
    return mask


def build_scan_qa(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """One open scan_qa item of `category` whose answer is class `cls` (a count or a side)."""
    width, height = size
    s = min(width, height)
    ood = split == "test_ood"
    img, organ, xx, yy, nprng = blank_scan(rng, width, height, lambda r, w, h: _organ(r, w, h, ood))

    def item(question: str, answer: str, task: str, rationale: str) -> dict[str, Any]:
        image = to_slide(img, nprng)
        return make_sample(question, answer, task, image=image, category=category, rationale=rationale)

    if category == "speck_count":
        n = OOD_SPECK_COUNTS[cls] if ood else int(cls)
        dot = max(1.5, 0.028 * s)
        for px, py in _specks(rng, organ, n, dot):
            img[_disc(xx, yy, px, py, dot)] = rng.uniform(235, 255)
        return item(
            COUNT_QUESTION,
            str(n),
            "text",
            f"I count {n} dark {'speck' if n == 1 else 'specks'} in the organ",
        )
    if category == "spot_side":
        _paint_spot(rng, img, organ, xx, yy, rng.uniform(0.045, 0.07) * s, cls)
        return item(SIDE_QUESTION, cls, "text", f"the dark spot is in the {cls} half of the organ")
    if category == "spot_larger":
        small = rng.uniform(0.035, 0.045) * s
        large = small * rng.uniform(1.6, 2.0)
        for side, r in {cls: large, ("right" if cls == "left" else "left"): small}.items():
            _paint_spot(rng, img, organ, xx, yy, r, side)
        return item(LARGER_QUESTION, cls, "text", f"the {cls} spot is the larger of the two")
    if category == "spot_box":
        mask = _paint_spot(rng, img, organ, xx, yy, rng.uniform(0.05, 0.09) * s, cls)
        return item(
            BOX_QUESTION,
            format_box(_box_of(mask)),
            "box",
            "there is one dark spot and the box goes around it",
        )
    raise ValueError(f"unknown scan_qa category {category!r}")


SCAN_QA = World(
    name="scan_qa",
    description="partially known domain: count specks, say where a spot is, compare sizes, box a spot",
    categories={
        "speck_count": SPECK_COUNTS,
        "spot_side": SIDES,
        "spot_larger": SIDES,
        "spot_box": SIDES,  # the side only balances where the spot is drawn; the answer is its box
    },
    tasks={"speck_count": "text", "spot_side": "text", "spot_larger": "text", "spot_box": "box"},
    vocabulary={
        "speck_count": tuple(sorted({*SPECK_COUNTS, *map(str, OOD_SPECK_COUNTS.values())})),
        "spot_side": SIDES,
        "spot_larger": SIDES,
        "spot_box": None,
    },
    build=build_scan_qa,
)
