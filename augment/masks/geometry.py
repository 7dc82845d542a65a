"""Geometry of defect masks: crops, rotations, flips, elastic warps, and placement on the object.

Shared by the mask sources (`augment.masks.bank`, `augment.masks.shapes`) and the copy-paste
primitives (`augment.masks.paste`). Every random function takes an explicit `np.random.Generator`.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations.augmentations.geometric.functional as AF
import cv2
import numpy as np
from scipy import signal

__all__ = [
    "DEFAULT_MAX_ROTATION",
    "check_rotation",
    "check_target",
    "crop_to_content",
    "elastic",
    "expanding_rotation",
    "flip_affine",
    "place_inside",
    "random_affine",
    "random_flip",
    "rotation_angle",
    "valid_offsets",
]

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


def check_target(shape: tuple[int, int], foreground: np.ndarray | None) -> np.ndarray:
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
