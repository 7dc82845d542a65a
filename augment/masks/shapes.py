"""Procedural defect masks: blobs, scratches and cracks drawn from a generator, placed on the object.

Same generator state, same mask.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from augment.masks.geometry import check_target, crop_to_content, place_inside

__all__ = ["PROCEDURAL_KINDS", "procedural_mask"]

PROCEDURAL_KINDS = ("blob", "scratch", "crack")


def _blob(rng: np.random.Generator, size: int) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 8)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
    field = noise / (noise.std() + 1e-8) * 0.35 + (1 - np.hypot(xx, yy))
    return field > 0.3


def _polyline(rng: np.random.Generator, size: int, n: int, wander: float) -> np.ndarray:
    """A random walk of `n` points from the canvas centre, about as long as the canvas."""
    heading = rng.uniform(0, 2 * np.pi)
    turns = np.cumsum(rng.normal(0, wander, n))
    steps = size / (1.2 * n)
    pts = np.cumsum(np.stack([np.cos(heading + turns), np.sin(heading + turns)], axis=1) * steps, axis=0)
    return pts + size / 2


def _scratch(rng: np.random.Generator, size: int) -> np.ndarray:
    canvas = np.zeros((size, size), np.uint8)
    pts = _polyline(rng, size, 12, 0.05)
    pts += size / 2 - pts.mean(axis=0)
    cv2.polylines(canvas, [np.round(pts).astype(np.int32)], False, 1, max(1, size // 40))
    return canvas > 0


def _crack(rng: np.random.Generator, size: int) -> np.ndarray:
    canvas = np.zeros((size, size), np.uint8)
    trunk = _polyline(rng, size, 10, 0.6)
    trunk += size / 2 - trunk.mean(axis=0)
    cv2.polylines(canvas, [np.round(trunk).astype(np.int32)], False, 1, max(1, size // 32))
    for start in trunk[rng.choice(len(trunk), size=2, replace=False)]:
        branch = _polyline(rng, size // 2, 5, 0.6) - size // 4 + start
        cv2.polylines(canvas, [np.round(branch).astype(np.int32)], False, 1, max(1, size // 48))
    return canvas > 0


_DRAWERS = {"blob": _blob, "scratch": _scratch, "crack": _crack}


def procedural_mask(
    kind: str,
    shape: tuple[int, int],
    foreground: np.ndarray | None,
    rng: np.random.Generator,
    size_range: tuple[float, float] = (0.15, 0.4),
    max_tries: int = 30,
) -> np.ndarray:
    """A procedural defect mask ("blob", "scratch" or "crack") of `shape` lying on `foreground`.

    The shape's extent is a fraction (`size_range`) of the foreground's longer bounding-box side.
    """
    if kind not in _DRAWERS:
        raise ValueError(f"unknown procedural mask kind {kind!r}; choose one of {list(PROCEDURAL_KINDS)}.")
    fg = check_target(shape, foreground)
    rows, cols = np.flatnonzero(fg.any(axis=1)), np.flatnonzero(fg.any(axis=0))
    extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    for attempt in range(max_tries):
        shrink = 0.9**attempt
        size = max(4, int(extent * rng.uniform(*size_range) * shrink))
        drawn = _DRAWERS[kind](rng, size)
        if not drawn.any():
            continue
        placed = place_inside(crop_to_content(drawn).astype(np.uint8), fg, rng)
        if placed is not None:
            return placed
    raise ValueError(
        f"no {kind} mask fits inside the foreground ({int(fg.sum())} px) after {max_tries} "
        "tries; lower size_range, or check the foreground estimate."
    )
