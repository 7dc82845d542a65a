"""Model windows at the image's own pixel scale, for training and for painting.

The embedded default denoises square windows of ``side`` pixels cut from the image at its own
scale (training may zoom by a little, ``zoom_range``), so a 2 px crack stays 2 px wide. A defect
larger than one window is painted on a *canvas* (its bounding box plus a margin) tiled by
overlapping windows whose predictions are blended (``tile_starts``, ``blend_weights``;
MultiDiffusion, Bar-Tal et al. 2023). Where an image is smaller than a window, the window is
filled by mirroring the image at its border (``cut_padded``): the model sees a plausible surface,
and only the image's own pixels are ever written back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from augment.data.resize import resize_image, resize_mask

__all__ = [
    "Box",
    "bbox",
    "blend_weights",
    "canvas_box",
    "centred_window",
    "cut_padded",
    "defect_window",
    "random_window",
    "tile_starts",
]


@dataclass(frozen=True)
class Box:
    """A rectangle: top-left corner (y, x), height and width, in image pixels (may leave the image)."""

    y: int
    x: int
    height: int
    width: int

    def cut(self, arr: np.ndarray) -> np.ndarray:
        """The part of ``arr`` under the box (the box must lie inside ``arr``)."""
        return arr[self.y : self.y + self.height, self.x : self.x + self.width]


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of the non-zero pixels, end-exclusive."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def cut_padded(arr: np.ndarray, box: Box) -> np.ndarray:
    """``arr`` under ``box``, mirrored at the image border where the box leaves it."""
    h, w = arr.shape[:2]
    y0, x0 = max(0, box.y), max(0, box.x)
    y1, x1 = min(h, box.y + box.height), min(w, box.x + box.width)
    crop = arr[y0:y1, x0:x1]
    before, after = (y0 - box.y, x0 - box.x), (box.y + box.height - y1, box.x + box.width - x1)
    if max(*before, *after) <= 0:
        return crop
    while crop.shape[0] < box.height or crop.shape[1] < box.width:  # mirror as often as it takes
        grow = [(min(b, s - 1), min(a, s - 1)) for b, a, s in zip(before, after, crop.shape[:2], strict=True)]
        widths = grow + [(0, 0)] * (arr.ndim - 2)
        crop = (
            np.pad(crop, widths, mode="symmetric")
            if min(crop.shape[:2]) > 1
            else np.pad(crop, widths, mode="edge")
        )
        before = (before[0] - grow[0][0], before[1] - grow[1][0])
        after = (after[0] - grow[0][1], after[1] - grow[1][1])
    return crop


def centred_window(mask: np.ndarray, side: int) -> Box:
    """The ``side`` x ``side`` window centred on the mask's bounding box (it may leave the image:
    cut it with ``cut_padded``), as the model sees a defect at the image's scale."""
    y0, x0, y1, x1 = bbox(mask)
    return Box((y0 + y1 - side) // 2, (x0 + x1 - side) // 2, side, side)


def _source_side(side: int, zoom_range: tuple[float, float], rng: np.random.Generator) -> int:
    """Pixels of the image one window covers: ``side`` divided by a log-uniform zoom."""
    low, high = np.log(zoom_range[0]), np.log(zoom_range[1])
    return max(4, round(side / float(np.exp(rng.uniform(low, high)))))


def defect_window(
    image: np.ndarray,
    mask: np.ndarray,
    side: int,
    rng: np.random.Generator,
    zoom_range: tuple[float, float] = (1.0, 1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """A training window holding defect pixels: centred near a random defect pixel (jitter of a
    quarter window), at the image's scale times a zoom drawn from ``zoom_range``."""
    src = _source_side(side, zoom_range, rng)
    ys, xs = np.nonzero(mask)
    k = int(rng.integers(len(ys)))
    jy, jx = (int(j) for j in rng.integers(-(src // 4), src // 4 + 1, size=2))
    box = Box(int(ys[k]) - src // 2 + jy, int(xs[k]) - src // 2 + jx, src, src)
    return resize_image(cut_padded(image, box), side), resize_mask(cut_padded(mask, box), side)


def random_window(
    image: np.ndarray, side: int, rng: np.random.Generator, zoom_range: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """A training window at a uniformly random place of ``image`` (mirrored where it is smaller)."""
    src = _source_side(side, zoom_range, rng)
    h, w = image.shape[:2]
    box = Box(int(rng.integers(0, max(1, h - src + 1))), int(rng.integers(0, max(1, w - src + 1))), src, src)
    return resize_image(cut_padded(image, box), side)


def canvas_box(mask: np.ndarray, side: int, margin: int, multiple: int = 1) -> Box:
    """The region a defect is painted on: the mask's bounding box grown by ``margin``, at least one
    window (``side``), inside the image where the image is large enough, sides multiples of
    ``multiple`` (a VAE's downsampling factor)."""
    y0, x0, y1, x1 = bbox(mask)
    h, w = mask.shape[:2]

    def span(lo: int, hi: int, limit: int) -> tuple[int, int]:
        length = max(side, hi - lo + 2 * margin)
        length = -(-length // multiple) * multiple
        start = (lo + hi - length) // 2
        start = min(max(start, 0), limit - length) if length <= limit else (limit - length) // 2
        return start, length

    (y, height), (x, width) = span(y0, y1, h), span(x0, x1, w)
    return Box(y, x, height, width)


def tile_starts(length: int, side: int, overlap: float) -> list[int]:
    """Window starts along one axis covering ``length``, neighbours overlapping by at least
    ``overlap`` of a window, spread evenly from 0 to ``length - side``."""
    if length <= side:
        return [0]
    stride = max(1, int(side * (1.0 - overlap)))
    n = -(-(length - side) // stride) + 1
    return [round(i * (length - side) / (n - 1)) for i in range(n)]


def blend_weights(side: int, ramp: float = 0.25) -> np.ndarray:
    """(side, side) float32 weights of one window's prediction: 1 in the middle, falling linearly
    towards its edges over ``ramp`` of the side (never 0), so overlapping windows meet without seams."""
    pos = np.minimum(np.arange(side) + 1, side - np.arange(side)).astype(np.float32)
    edge = np.minimum(pos / max(1.0, side * ramp), 1.0)
    return np.outer(edge, edge) + 1e-3
