"""Square crops around defects, shared by training and sampling so both see defects at one scale.

A CPU cannot denoise a whole 256 px image quickly, so the embedded default works on a square
window around the defect: side = max(``min_side``, ``context`` x the defect's longer bounding-box
side), resized to the model resolution. Training jitters the window so the defect is not always
centred; sampling centres it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    """A square window: top-left corner (y, x) and side, in source pixels."""

    y: int
    x: int
    side: int

    def cut(self, arr: np.ndarray) -> np.ndarray:
        return arr[self.y : self.y + self.side, self.x : self.x + self.side]


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of the non-zero pixels, end-exclusive."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def window_side(mask: np.ndarray, min_side: int, context: float) -> int:
    """Side of the window for ``mask``: its longer bbox side times ``context``, at least ``min_side``."""
    y0, x0, y1, x1 = bbox(mask)
    side = max(min_side, int(np.ceil(max(y1 - y0, x1 - x0) * context)))
    return min(side, *mask.shape[:2])


def _clamp(start: int, side: int, limit: int) -> int:
    return int(min(max(start, 0), limit - side))


def centred_box(mask: np.ndarray, min_side: int, context: float) -> Box:
    """The window centred on the mask's bounding box, moved inside the image if needed."""
    side = window_side(mask, min_side, context)
    y0, x0, y1, x1 = bbox(mask)
    h, w = mask.shape[:2]
    return Box(_clamp((y0 + y1 - side) // 2, side, h), _clamp((x0 + x1 - side) // 2, side, w), side)


def jittered_box(mask: np.ndarray, min_side: int, context: float, rng: np.random.Generator) -> Box:
    """A window of the same side placed at random where it still holds the whole bounding box."""
    side = window_side(mask, min_side, context)
    y0, x0, y1, x1 = bbox(mask)
    h, w = mask.shape[:2]
    ys = (_clamp(y1 - side, side, h), _clamp(y0, side, h))
    xs = (_clamp(x1 - side, side, w), _clamp(x0, side, w))
    return Box(int(rng.integers(min(ys), max(ys) + 1)), int(rng.integers(min(xs), max(xs) + 1)), side)
