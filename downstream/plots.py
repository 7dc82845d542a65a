"""Small line charts drawn with PIL (matplotlib is not a dependency of the library).

``line_chart`` draws series of (x, y) points, optionally with vertical interval bars, on linear
axes with a few labelled ticks and a legend; ``side_by_side`` puts several charts in one image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

__all__ = ["COLOURS", "Series", "colour_of", "line_chart", "side_by_side"]

COLOURS = [
    (90, 90, 90),
    (220, 80, 40),
    (40, 120, 220),
    (60, 170, 90),
    (170, 80, 190),
    (200, 160, 30),
    (30, 170, 170),
]


def colour_of(index: int) -> tuple[int, int, int]:
    return COLOURS[index % len(COLOURS)]


@dataclass
class Series:
    """One line: points, colour, width; ``low``/``high`` draw an interval bar at each point."""

    label: str | None
    xs: Sequence[float]
    ys: Sequence[float]
    colour: tuple[int, int, int]
    width: int = 2
    low: Sequence[float] = field(default_factory=list)
    high: Sequence[float] = field(default_factory=list)


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    return [lo + (hi - lo) * k / (n - 1) for k in range(n)]


def line_chart(
    series: Sequence[Series],
    title: str,
    xlabel: str,
    ylabel: str,
    size: tuple[int, int] = (520, 360),
    zero_line: bool = False,
) -> Image.Image:
    """The series on shared axes fitted to their points (and intervals), with a legend."""
    width, height = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 52, 12, 40, 42
    xs = _finite([x for s in series for x in s.xs])
    ys = _finite([y for s in series for y in [*s.ys, *s.low, *s.high]] + ([0.0] if zero_line else []))
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-3)
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad

    def px(x: float, y: float) -> tuple[float, float]:
        return (
            left + (x - x0) / (x1 - x0) * (width - left - right),
            top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom),
        )

    for y in _ticks(y0, y1):
        draw.line([px(x0, y), px(x1, y)], fill=(230, 230, 230))
        draw.text((4, px(x0, y)[1] - 6), f"{y:.3f}", fill="black")
    for x in _ticks(x0, x1):
        draw.text((px(x, y0)[0] - 10, height - bottom + 4), f"{x:g}", fill="black")
    if zero_line and y0 < 0 < y1:
        draw.line([px(x0, 0.0), px(x1, 0.0)], fill=(120, 120, 120), width=1)
    draw.text((left, 4), title, fill="black")
    draw.text((width // 2 - 30, height - 16), xlabel, fill="black")
    draw.text((4, 22), ylabel, fill="black")
    for s in series:
        points = [px(x, y) for x, y in zip(s.xs, s.ys, strict=True) if not math.isnan(y)]
        if len(points) > 1:
            draw.line(points, fill=s.colour, width=s.width)
        for p in points:
            draw.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=s.colour)
        for x, lo, hi in zip(s.xs, s.low, s.high, strict=False):
            if not (math.isnan(lo) or math.isnan(hi)):
                (xa, ya), (_, yb) = px(x, lo), px(x, hi)
                draw.line([(xa, ya), (xa, yb)], fill=s.colour, width=1)
                draw.line([(xa - 3, ya), (xa + 3, ya)], fill=s.colour)
                draw.line([(xa - 3, yb), (xa + 3, yb)], fill=s.colour)
    labelled = [s for s in series if s.label]
    for k, s in enumerate(labelled):
        x, y = left + 8 + (k % 3) * 150, top + 4 + (k // 3) * 14
        draw.rectangle([x, y + 2, x + 10, y + 10], fill=s.colour)
        draw.text((x + 14, y), s.label or "", fill="black")
    return img


def side_by_side(images: Sequence[Image.Image]) -> Image.Image:
    """The images in one row, tops aligned."""
    out = Image.new("RGB", (sum(i.width for i in images), max(i.height for i in images)), "white")
    x = 0
    for image in images:
        out.paste(image, (x, 0))
        x += image.width
    return out
