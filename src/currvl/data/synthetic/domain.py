"""The specialised domain "scan": a stand-in for medical imaging that no pretrained VLM has seen.

A dark frame holds a grey elliptical "organ" with soft texture; inside it sits at most one finding
from a vocabulary disjoint from the general suite. The findings differ in size, brightness and
texture by margins a tiny randomly-initialised vision tower can learn at 112x112:

- ``nodule``        small (r ~ 5-7 px at 112) bright filled disc
- ``cyst``          medium (r ~ 10-12 px) dark disc with a bright rim
- ``mass``          large (r ~ 12-20 px) irregular bright mottled blob
- ``calcification`` cluster of 3-5 tiny (r ~ 2 px) near-white dots
- ``normal``        no finding

Box answers are tight around the finding's drawn pixels, in pixel-edge coordinates: a finding
covering columns 10..19 and rows 30..35 has box [10, 30, 20, 36].

The opt-in world ``scan_report`` (``SCAN_REPORT``) draws the same scans but asks for a short
templated findings report (finding, size, location), the synthetic stand-in for report generation
(OpenI in RCPA) scored by graded similarity rewards. It is a separate world so that ``scan`` samples
stay byte-identical. Its location words are organ-relative ("upper"/"lower" half, "central"/
"peripheral" part), not "left"/"right", which are answers of the general suite's position skill.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ...rewards.report import LOCATION_WORDS, SIZE_WORDS
from ..schema import format_box, make_sample
from .base import World

FINDINGS: tuple[str, ...] = ("nodule", "cyst", "mass", "calcification", "normal")
BOX_FINDINGS: tuple[str, ...] = ("nodule", "cyst", "mass", "calcification")

FINDING_QUESTION = "What is the finding in this scan?"
BOX_QUESTION = "Locate the finding."

FINDING_DESCRIPTIONS: dict[str, str] = {
    "nodule": "a small bright round spot inside the organ",
    "cyst": "a dark round pocket with a bright rim inside the organ",
    "mass": "a large bright uneven lump inside the organ",
    "calcification": "a few tiny very bright specks close together inside the organ",
    "normal": "the organ looks even with no spot, pocket or lump",
}

_NOISE_STD = 4.0


def _smooth_noise(nprng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: a coarse random grid upsampled bicubically."""
    grid = nprng.uniform(-1.0, 1.0, size=(cells, cells)).astype(np.float32)
    up = Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(up, dtype=np.float32), -1.0, 1.0)


class _Organ:
    """A rotated ellipse; knows how to pick a point with room for a finding of a given extent."""

    def __init__(self, rng: random.Random, width: int, height: int) -> None:
        s = min(width, height)
        self.cx = width / 2 + rng.uniform(-0.05, 0.05) * width
        self.cy = height / 2 + rng.uniform(-0.05, 0.05) * height
        self.a = rng.uniform(0.34, 0.41) * s
        self.b = rng.uniform(0.28, 0.33) * s
        self.angle = rng.uniform(-0.5, 0.5)

    def rho(self, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        """Normalised elliptical radius: < 1 inside the organ."""
        dx, dy = xx - self.cx, yy - self.cy
        ca, sa = math.cos(self.angle), math.sin(self.angle)
        u, v = dx * ca + dy * sa, -dx * sa + dy * ca
        return np.sqrt((u / self.a) ** 2 + (v / self.b) ** 2)

    def point_with_room(self, rng: random.Random, extent: float) -> tuple[float, float]:
        """A point whose disc of radius ``extent`` lies inside the organ (E convex: rho*E + (1-rho)*B)."""
        rho_max = max(0.0, 1.0 - extent / min(self.a, self.b) - 0.08)
        rho, theta = rho_max * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        u, v = self.a * rho * math.cos(theta), self.b * rho * math.sin(theta)
        ca, sa = math.cos(self.angle), math.sin(self.angle)
        return self.cx + u * ca - v * sa, self.cy + u * sa + v * ca


def _disc(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


@dataclass(frozen=True)
class _Drawn:
    """What was painted: the finding's pixel mask and where its size fell within its drawn range."""

    mask: np.ndarray
    size_fraction: float  # 0 = smallest this finding is drawn, 1 = largest


def _fraction(value: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (value - lo) / (hi - lo)))


def _draw_finding(
    rng: random.Random, nprng: np.random.Generator, img: np.ndarray, organ: _Organ, finding: str,
    xx: np.ndarray, yy: np.ndarray,
) -> _Drawn | None:  # fmt: skip
    """Paint the finding into ``img`` in place; return its mask and size (None for ``normal``).

    The size is read off values already drawn, so the random stream (and every ``scan`` sample) is
    the same as when only the mask was returned.
    """
    h, w = img.shape
    s = min(w, h)
    if finding == "normal":
        return None
    if finding == "nodule":
        r = rng.uniform(0.045, 0.06) * s
        cx, cy = organ.point_with_room(rng, r + 1)
        mask = _disc(xx, yy, cx, cy, r)
        img[mask] = rng.uniform(205, 235)
        return _Drawn(mask, _fraction(r / s, 0.045, 0.06))
    if finding == "cyst":
        r = rng.uniform(0.088, 0.105) * s
        rim = max(2.0, 0.025 * s)
        cx, cy = organ.point_with_room(rng, r + 1)
        mask = _disc(xx, yy, cx, cy, r)
        img[mask] = rng.uniform(190, 225)
        img[_disc(xx, yy, cx, cy, r - rim)] = rng.uniform(12, 35)
        return _Drawn(mask, _fraction(r / s, 0.088, 0.105))
    if finding == "mass":
        r0 = rng.uniform(0.11, 0.14) * s
        harmonics = [(k, rng.uniform(0.06, 0.1), rng.uniform(0, 2 * math.pi)) for k in (2, 3, 5)]
        thetas = np.linspace(0, 2 * math.pi, 360)
        extent = r0 * float(np.max(1 + sum(amp * np.cos(k * thetas + ph) for k, amp, ph in harmonics)))
        cx, cy = organ.point_with_room(rng, extent + 1)
        dx, dy = xx - cx, yy - cy
        theta = np.arctan2(dy, dx)
        radius = r0 * (1 + sum(amp * np.cos(k * theta + ph) for k, amp, ph in harmonics))
        mask = dx * dx + dy * dy <= radius * radius
        mottle = _smooth_noise(nprng, w, h, cells=max(4, s // 10)) * 12
        img[mask] = rng.uniform(188, 210) + mottle[mask]
        return _Drawn(mask, _fraction(r0 / s, 0.11, 0.14))
    if finding == "calcification":
        n = rng.randint(3, 5)
        dot = max(1.3, 0.017 * s)
        spread = 0.075 * s
        cx, cy = organ.point_with_room(rng, spread + dot + 1)
        dots: list[tuple[float, float]] = []
        min_sep = 2.8 * dot
        while len(dots) < n:
            for _ in range(200):
                rr, th = spread * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
                p = (cx + rr * math.cos(th), cy + rr * math.sin(th))
                if all(math.hypot(p[0] - q[0], p[1] - q[1]) >= min_sep for q in dots):
                    dots.append(p)
                    break
            else:
                min_sep *= 0.9  # crowded cluster: relax spacing rather than loop forever
        mask = np.zeros_like(img, dtype=bool)
        for px, py in dots:
            mask |= _disc(xx, yy, px, py, dot)
        img[mask] = rng.uniform(245, 255)
        return _Drawn(mask, (n - 3) / 2)  # a cluster's size is how many specks it has
    raise ValueError(f"unknown finding {finding!r}; expected one of {', '.join(FINDINGS)}")


def blank_scan(
    rng: random.Random, width: int, height: int, make_organ: Callable[..., _Organ] = _Organ
) -> tuple[np.ndarray, _Organ, np.ndarray, np.ndarray, np.random.Generator]:
    """A dark frame with a shaded, textured organ: (grey image as float, organ, pixel-centre x and y
    grids, the numpy generator for texture and noise). Findings are painted on it, then `to_image`."""
    nprng = np.random.default_rng(rng.getrandbits(64))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5  # pixel centres
    img = np.full((height, width), rng.uniform(8, 20), dtype=np.float32)
    organ = make_organ(rng, width, height)
    rho = organ.rho(xx, yy)
    inside = rho <= 1.0
    base = rng.uniform(88, 112)
    texture = _smooth_noise(nprng, width, height, cells=max(4, min(width, height) // 16)) * 9
    shaded = base * (1.0 - 0.12 * rho**2) + texture
    img[inside] = shaded[inside]
    return img, organ, xx, yy, nprng


def sensor_readout(img: np.ndarray, nprng: np.random.Generator) -> np.ndarray:
    """A painted scan with the sensor noise added, quantised to 0-255 (uint8)."""
    noisy = img + nprng.normal(0.0, _NOISE_STD, size=img.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def to_image(img: np.ndarray, nprng: np.random.Generator) -> Image.Image:
    """A painted scan as the grey RGB image a scanner shows."""
    return Image.fromarray(sensor_readout(img, nprng)).convert("RGB")


def _render(
    rng: random.Random, width: int, height: int, finding: str
) -> tuple[Image.Image, _Drawn | None, _Organ]:
    """Draw one scan; return the RGB image, what was painted (None if normal) and the organ."""
    img, organ, xx, yy, nprng = blank_scan(rng, width, height)
    drawn = _draw_finding(rng, nprng, img, organ, finding, xx, yy)
    image = to_image(img, nprng)
    if drawn is None or not drawn.mask.any():
        return image, None, organ
    return image, drawn, organ


def _box_of(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def render_scan(
    rng: random.Random, width: int, height: int, finding: str
) -> tuple[Image.Image, list[int] | None]:
    """Draw one scan; return the RGB image and the tight finding box [x1, y1, x2, y2] (None if normal)."""
    image, drawn, _ = _render(rng, width, height, finding)
    return image, None if drawn is None else _box_of(drawn.mask)


def build_scan(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """One scan sample: an open finding question or, for samples with a finding, a box question."""
    del split  # scans are continuous-valued; seed streams alone keep splits apart
    image, box = render_scan(rng, size[0], size[1], cls)
    description = FINDING_DESCRIPTIONS[cls]
    if category == "finding":
        return make_sample(
            FINDING_QUESTION, cls, "text", image=image, category=category, rationale=description
        )
    if category == "finding_box":
        if box is None:
            raise ValueError("a box question needs a finding; 'normal' scans have none")
        rationale = f"there is {description} and the box goes around it"
        return make_sample(
            BOX_QUESTION, format_box(box), "box", image=image, category=category, rationale=rationale
        )
    raise ValueError(f"unknown scan category {category!r}")


SCAN = World(
    name="scan",
    description="specialised imaging domain: name or locate a finding inside a grey organ on a dark scan",
    categories={"finding": FINDINGS, "finding_box": BOX_FINDINGS},
    tasks={"finding": "text", "finding_box": "box"},
    vocabulary={"finding": FINDINGS, "finding_box": None},
    build=build_scan,
)


# ----------------------------------------------------------------------------------------------
# scan_report: the same scans, answered by a short templated findings report

REPORT_QUESTION = "Write the findings report for this scan."
NORMAL_REPORT = "No abnormal findings."
# the words the report evaluation reads back (currvl.rewards.report)
REPORT_SIZES: tuple[str, ...] = SIZE_WORDS
REPORT_LOCATIONS: tuple[str, ...] = LOCATION_WORDS
_CENTRAL_RHO = 0.35  # finding centroid within this normalised organ radius: "central"
_SECTOR_DEG = 30.0  # peripheral findings within 60 degrees of straight up / down: "upper" / "lower"


def report_location(mask: np.ndarray, organ: _Organ) -> str:
    """Where the finding's pixel centroid sits in the organ, in words a reader can check by eye.

    "central" inside a normalised elliptical radius of 0.35, else by the direction from the organ
    centre: "upper" / "lower" within 60 degrees of vertical, "lateral" towards either side.
    """
    ys, xs = np.nonzero(mask)
    cx, cy = float(xs.mean()) + 0.5, float(ys.mean()) + 0.5  # pixel centres, like organ.rho
    if float(organ.rho(np.array(cx), np.array(cy))) < _CENTRAL_RHO:
        return "central"
    angle = math.degrees(math.atan2(organ.cy - cy, cx - organ.cx))  # image y grows downwards
    if _SECTOR_DEG < angle < 180.0 - _SECTOR_DEG:
        return "upper"
    if -180.0 + _SECTOR_DEG < angle < -_SECTOR_DEG:
        return "lower"
    return "lateral"


def format_report(finding: str, size: str | None = None, location: str | None = None) -> str:
    """The reference report: "A small nodule in the upper part of the organ. No other findings."."""
    if finding == "normal":
        return NORMAL_REPORT
    if size not in REPORT_SIZES or location not in REPORT_LOCATIONS:
        raise ValueError(
            f"a {finding} report needs a size in {REPORT_SIZES} and a location in {REPORT_LOCATIONS}"
        )
    return f"A {size} {finding} in the {location} part of the organ. No other findings."


def build_scan_report(
    rng: random.Random, split: str, category: str, cls: str, size: tuple[int, int]
) -> dict[str, Any]:
    """One report sample: the scan of finding ``cls`` and its templated report (task ``text``).

    Size is "small" when the finding was drawn in the lower half of its own size range (for a
    calcification: 3 specks rather than 4-5), so "large nodule" is still smaller than "small mass".
    """
    del split
    if category != "report":
        raise ValueError(f"unknown scan_report category {category!r}")
    image, drawn, organ = _render(rng, size[0], size[1], cls)
    description = FINDING_DESCRIPTIONS[cls]
    if drawn is None:
        return make_sample(
            REPORT_QUESTION, NORMAL_REPORT, "text", image=image, category=category, rationale=description
        )
    size_word = REPORT_SIZES[int(drawn.size_fraction >= 0.5)]
    location = report_location(drawn.mask, organ)
    rationale = f"there is {description}, so a {cls}, {size_word} for its kind, in the {location} part"
    return make_sample(
        REPORT_QUESTION,
        format_report(cls, size_word, location),
        "text",
        image=image,
        category=category,
        rationale=rationale,
    )


SCAN_REPORT = World(
    name="scan_report",
    description="specialised imaging domain, report generation: describe the finding's kind, size and place",
    categories={"report": FINDINGS},
    tasks={"report": "text"},
    vocabulary={"report": None},  # open text, scored by similarity (rouge_l, cider, findings_f1)
    build=build_scan_report,
)
