"""A contact sheet of samples, for eyeballing that generated pictures and answers agree."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from ..io import open_image

_BOX_RE = re.compile(r"^\s*\[([^\]]*)\]\s*$")


def contact_sheet(samples: Sequence[dict[str, Any]], columns: int = 5, cell: int = 160) -> Image.Image:
    """Grid of samples, each with its category and answer; box answers are drawn in red on the image."""
    font = ImageFont.load_default()
    text_h = 30
    rows = max(1, -(-len(samples) // columns))
    sheet = Image.new("RGB", (columns * cell, rows * (cell + text_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, sample in enumerate(samples):
        x0, y0 = (i % columns) * cell, (i // columns) * (cell + text_h)
        image = open_image(sample.get("image"))
        if image is None:
            lines = textwrap.wrap(str(sample.get("question", "")), width=cell // 7)
            draw.multiline_text((x0 + 6, y0 + cell // 3), "\n".join(lines), fill="black", font=font)
        else:
            scale = (cell - 8) / max(image.size)
            shown = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
            match = _BOX_RE.match(str(sample.get("answer", ""))) if sample.get("task") == "box" else None
            if match:
                x1, y1, x2, y2 = (float(v) * scale for v in match.group(1).split(","))
                ImageDraw.Draw(shown).rectangle([x1, y1, x2 - 1, y2 - 1], outline=(255, 0, 0))
            sheet.paste(shown, (x0 + 4, y0 + 4))
        label = f"{sample.get('category', '')}: {sample.get('answer', '')}"
        draw.text((x0 + 4, y0 + cell), label, fill="black", font=font)
        draw.text((x0 + 4, y0 + cell + 13), str(sample.get("id", "")), fill=(110, 110, 110), font=font)
    return sheet
