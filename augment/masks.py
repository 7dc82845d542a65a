"""Mask sources for the inpainting path: where a new defect goes, always on the object.

* `RealMaskBank`: the real few-shot masks under random scale, a small rotation jitter (defects in
  inspection data keep a characteristic orientation), flips and elastic deformation, placed at a random position where every defect pixel lies on the foreground
  (`augment.foreground.estimate_foreground`).
* `procedural_mask`: blobs, scratches and cracks drawn from a generator, placed the same way.

Every function takes an explicit `np.random.Generator`; same seed, same mask.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import albumentations.augmentations.geometric.functional as AF
import cv2
import numpy as np
from scipy import ndimage, signal

from augment.data.imageio import read_mask

logger = logging.getLogger(__name__)

PROCEDURAL_KINDS = ("blob", "scratch", "crack")
# Rotation jitter (degrees either way) of resampled and pasted defects: KSDD cracks are all nearly
# horizontal, and full rotation made synthetic masks unlike every real one. 180 = any angle.
DEFAULT_MAX_ROTATION = 15.0


def crop_to_content(mask: np.ndarray) -> np.ndarray:
    """The bounding-box crop of a non-empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def valid_offsets(shape_mask: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Top-left offsets (N, 2) at which every pixel of `shape_mask` lies on `foreground`."""
    h, w = shape_mask.shape
    fh, fw = foreground.shape
    if h > fh or w > fw:
        return np.zeros((0, 2), dtype=np.int64)
    outside = (~foreground.astype(bool)).astype(np.float32)
    off = signal.fftconvolve(outside, shape_mask[::-1, ::-1].astype(np.float32), mode="valid")
    return np.argwhere(off < 0.5)


def place_inside(
    shape_mask: np.ndarray, foreground: np.ndarray, rng: np.random.Generator
) -> np.ndarray | None:
    """Put a small mask at a random position fully on the foreground; None if nowhere fits."""
    offsets = valid_offsets(shape_mask, foreground)
    if len(offsets) == 0:
        return None
    y, x = offsets[rng.integers(len(offsets))]
    out = np.zeros(foreground.shape, dtype=np.uint8)
    h, w = shape_mask.shape
    out[y : y + h, x : x + w] = shape_mask
    return out


def expanding_rotation(
    shape: tuple[int, int], angle: float, scale: float
) -> tuple[np.ndarray, tuple[int, int]]:
    """Affine matrix rotating and scaling about the centre, and the (width, height) that holds the result."""
    h, w = shape[:2]
    mat = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    cos, sin = abs(mat[0, 0]), abs(mat[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)) + 2, int(np.ceil(h * cos + w * sin)) + 2
    mat[0, 2] += nw / 2 - w / 2
    mat[1, 2] += nh / 2 - h / 2
    return mat, (nw, nh)


def flip_affine(mat: np.ndarray, size: tuple[int, int], lr: bool, ud: bool) -> np.ndarray:
    """`mat` followed by left-right / up-down flips of its (width, height) output, as one matrix.

    Warping with the result equals warping with `mat` and then flipping the array, so callers
    save a pass over their arrays.
    """
    out = mat.copy()
    for flip, row, extent in ((lr, 0, size[0]), (ud, 1, size[1])):
        if flip:
            out[row] = -out[row]
            out[row, 2] += extent - 1
    return out


def random_flip(arrays: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Flip all arrays the same way: left-right and up-down, each with probability 1/2."""
    lr, ud = rng.random() < 0.5, rng.random() < 0.5
    out = [a[:, ::-1] if lr else a for a in arrays]
    return [np.ascontiguousarray(a[::-1] if ud else a) for a in out]


def check_rotation(max_rotation: float | bool) -> float:
    """A rotation limit in degrees in [0, 180]; True / False (the old `rotate` flag) mean 180 / 0."""
    if isinstance(max_rotation, bool):
        return 180.0 if max_rotation else 0.0
    if not isinstance(max_rotation, (int, float, np.number)) or not 0 <= max_rotation <= 180:
        raise ValueError(
            f"max_rotation must be degrees in [0, 180] (0 keeps the orientation, 180 any angle), "
            f"got {max_rotation!r}."
        )
    return float(max_rotation)


def rotation_angle(rng: np.random.Generator, max_rotation: float | bool) -> float:
    """A random angle within +-`max_rotation` degrees (0: no draw; >= 180: the full circle)."""
    limit = check_rotation(max_rotation)
    if limit == 0:
        return 0.0
    return float(rng.uniform(0, 360)) if limit >= 180 else float(rng.uniform(-limit, limit))


def random_affine(
    mask: np.ndarray,
    rng: np.random.Generator,
    scale: float,
    max_rotation: float | bool = DEFAULT_MAX_ROTATION,
    flip: bool = True,
) -> np.ndarray:
    """Scale, rotate within +-`max_rotation` degrees (expanding the canvas) and flip a binary crop;
    returns a tight crop."""
    mat, size = expanding_rotation(mask.shape, rotation_angle(rng, max_rotation), scale)
    out = cv2.warpAffine(mask.astype(np.float32), mat, size, flags=cv2.INTER_LINEAR)
    if flip:
        out = random_flip([out], rng)[0]
    binary = (out >= 0.5).astype(np.uint8)
    return crop_to_content(binary) if binary.any() else binary


def elastic(mask: np.ndarray, rng: np.random.Generator, alpha: float = 0.15) -> np.ndarray:
    """Elastic deformation of a binary crop; displacement is `alpha` times the crop size."""
    h, w = mask.shape
    pad = max(2, int(alpha * max(h, w)))
    padded = np.pad(mask.astype(np.float32), pad)
    ph, pw = padded.shape
    sigma = max(ph, pw) / 6
    dx, dy = AF.generate_displacement_fields(
        (ph, pw), alpha * max(h, w), sigma, False, (0, 0), rng, "gaussian"
    )
    xx, yy = np.meshgrid(np.arange(pw, dtype=np.float32), np.arange(ph, dtype=np.float32))
    warped = AF.remap(padded, xx + dx, yy + dy, cv2.INTER_LINEAR, cv2.BORDER_CONSTANT, 0)
    binary = (warped >= 0.5).astype(np.uint8)
    return crop_to_content(binary) if binary.any() else crop_to_content(mask.astype(np.uint8))


def _check_target(shape: tuple[int, int], foreground: np.ndarray | None) -> np.ndarray:
    """Validate (shape, foreground) and return the foreground as bool (all True when None)."""
    if len(shape) < 2 or min(shape[:2]) < 1:
        raise ValueError(f"shape must be (height, width), got {shape}.")
    shape = (int(shape[0]), int(shape[1]))
    if foreground is None:
        return np.ones(shape, dtype=bool)
    foreground = np.asarray(foreground).astype(bool)
    if foreground.shape != shape:
        raise ValueError(
            f"foreground shape {foreground.shape} differs from the requested mask shape {shape}; "
            "pass the foreground of the image the mask is for."
        )
    if not foreground.any():
        raise ValueError(
            "foreground is empty: there is no object to put a defect on. "
            "Pass foreground=None to allow the whole image."
        )
    return foreground


class RealMaskBank:
    """The real few-shot defect masks, resampled under random geometry inside the foreground.

    `scale_range` is relative to each mask's own size; the crop is shrunk further if it cannot fit
    the target. `max_rotation` (degrees, default a 15 degree jitter) keeps the shots' orientation;
    180 allows any angle. `rotate` is the older flag and, when given, overrides it (True: 180,
    False: 0). `max_tries` bounds the retries before `sample` gives up with a ValueError.
    """

    def __init__(
        self,
        masks: Sequence[np.ndarray],
        scale_range: tuple[float, float] = (0.7, 1.3),
        rotate: bool | None = None,
        flip: bool = True,
        elastic_alpha: float = 0.1,
        max_tries: int = 30,
        max_rotation: float = DEFAULT_MAX_ROTATION,
    ) -> None:
        crops = [crop_to_content(np.asarray(m) > 0) for m in masks if np.asarray(m).any()]
        if not crops:
            raise ValueError(
                f"RealMaskBank needs at least one non-empty mask, got {len(masks)} "
                "mask(s), none with a defect pixel."
            )
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}.")
        if max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries}.")
        self.crops = [c.astype(np.uint8) for c in crops]
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.max_rotation = check_rotation(max_rotation if rotate is None else rotate)
        self.flip, self.elastic_alpha, self.max_tries = flip, elastic_alpha, max_tries

    @classmethod
    def from_files(cls, paths: Sequence[str | Path], **kwargs: object) -> RealMaskBank:
        """Build a bank from mask files (e.g. the `mask` paths of the few-shot samples)."""
        return cls([read_mask(p) for p in paths], **kwargs)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.crops)

    def _transformed(self, rng: np.random.Generator, fit: float) -> np.ndarray:
        crop = self.crops[rng.integers(len(self.crops))]
        scale = float(rng.uniform(*self.scale_range)) * fit
        out = random_affine(crop, rng, scale, self.max_rotation, self.flip)
        if self.elastic_alpha > 0 and out.any():
            out = elastic(out, rng, self.elastic_alpha)
        return out

    def sample(
        self, shape: tuple[int, int], foreground: np.ndarray | None, rng: np.random.Generator
    ) -> np.ndarray:
        """A new HW uint8 {0,1} mask of `shape` lying entirely on `foreground`."""
        fg = _check_target(shape, foreground)
        fit = 1.0
        for _ in range(self.max_tries):
            crop = self._transformed(rng, fit)
            placed = place_inside(crop, fg, rng) if crop.any() else None
            if placed is not None:
                return placed
            fit *= 0.85
        raise ValueError(
            f"no placement of a real mask fits inside the foreground "
            f"({int(fg.sum())} px of {fg.size}) after {self.max_tries} tries; "
            "lower scale_range, or check the foreground estimate."
        )


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
    fg = _check_target(shape, foreground)
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


__all__ = [
    "DEFAULT_MAX_ROTATION",
    "PROCEDURAL_KINDS",
    "RealMaskBank",
    "check_rotation",
    "crop_to_content",
    "expanding_rotation",
    "flip_affine",
    "place_inside",
    "procedural_mask",
    "random_flip",
    "rotation_angle",
    "valid_offsets",
]
