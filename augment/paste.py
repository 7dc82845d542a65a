"""Copy-paste of a real (or stored synthetic) defect into another image, mask kept aligned.

The classical baseline of the downstream benchmark and the cheap path of `DefectAugment` with a
bank: cut the defect with a little context, scale / rotate (a 15 degree jitter by default: defects
keep their orientation) / flip it, put it where the whole
defect lies on the target's foreground, and blend it in (feathered alpha, or Poisson cloning).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from augment.masks import DEFAULT_MAX_ROTATION, expanding_rotation, flip_affine, rotation_angle, valid_offsets

logger = logging.getLogger(__name__)

Blend = Literal["feather", "seamless"]
CONTEXT_MARGIN = 0.25  # context kept around the defect, as a share of its bounding-box side
PLACE_TRIES = 64  # random positions tried before the exhaustive search for a valid place
PLACE_FIRST = 4  # positions checked in the first vectorised step: most objects accept one of them
PLACE_BATCH = 16  # positions checked per later vectorised step


def _check_inputs(
    target: np.ndarray,
    source_image: np.ndarray,
    source_mask: np.ndarray,
    foreground: np.ndarray | None,
    scale_range: tuple[float, float],
    blend: str,
) -> None:
    for name, arr in (("target", target), ("source_image", source_image)):
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"{name} must be an HWC uint8 RGB image, got shape {arr.shape} {arr.dtype}.")
    if source_mask.shape != source_image.shape[:2]:
        raise ValueError(
            f"source_mask shape {source_mask.shape} differs from source_image "
            f"{source_image.shape[:2]}; pass the mask of that image."
        )
    if not source_mask.any():
        raise ValueError("source_mask is empty: there is no defect to paste.")
    if foreground is not None and foreground.shape != target.shape[:2]:
        raise ValueError(f"foreground shape {foreground.shape} differs from target {target.shape[:2]}.")
    if not 0 < scale_range[0] <= scale_range[1]:
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}.")
    if blend not in ("feather", "seamless"):
        raise ValueError(f"blend must be 'feather' or 'seamless', got {blend!r}.")


@dataclass(frozen=True)
class Patch:
    """A defect cut out with context, ready to be pasted many times (see `cut_defect`).

    `layers` holds, per pixel, the defect mask (0/1), the feathered blend weight (0..255) and
    the valid area (0/1: all but the one-pixel rim), so a paste warps them in one
    nearest-neighbour pass.
    """

    image: np.ndarray  # H x W x 3 uint8
    layers: np.ndarray  # H x W x 3 uint8: defect mask, blend weight, valid area

    @property
    def mask(self) -> np.ndarray:
        """The defect pixels (H x W uint8, 0/1)."""
        return self.layers[..., 0]


def feather_alpha(mask: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Blend weights: 1 on the defect, fading to 0 over a few pixels of context, 0 outside `area`."""
    radius = max(1, round(0.05 * max(mask.shape)))
    grown = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    soft = cv2.GaussianBlur(grown.astype(np.float32), (0, 0), radius / 2)
    return np.maximum(soft * area, mask.astype(np.float32))


def cut_defect(image: np.ndarray, mask: np.ndarray) -> Patch:
    """The defect's bounding box plus a context margin, with its mask and blend weights.

    The rim pixel of the box is left out of both (a later warp reflects there), and the
    weights are computed once here rather than at every paste.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    my = max(1, int(CONTEXT_MARGIN * (rows[-1] - rows[0] + 1)))
    mx = max(1, int(CONTEXT_MARGIN * (cols[-1] - cols[0] + 1)))
    y0, y1 = max(0, rows[0] - my), min(mask.shape[0], rows[-1] + my + 1)
    x0, x1 = max(0, cols[0] - mx), min(mask.shape[1], cols[-1] + mx + 1)
    box_mask = mask[y0:y1, x0:x1].astype(np.uint8)
    area = cv2.erode(np.ones_like(box_mask), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT)
    box_mask = np.bitwise_and(box_mask, area)
    weight = np.rint(feather_alpha(box_mask, area) * 255).astype(np.uint8)
    return Patch(np.ascontiguousarray(image[y0:y1, x0:x1]), np.dstack([box_mask, weight, area]))


def transform_patch(
    patch: Patch,
    rng: np.random.Generator,
    scale_range: tuple[float, float],
    rotate: float | bool = DEFAULT_MAX_ROTATION,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Randomly scale, rotate and flip a patch: (image, defect mask, blend weight 0..255, valid area).

    `rotate` is the rotation limit in degrees (see `augment.masks.rotation_angle`): the default
    15 degree jitter keeps the defect's orientation, 180 allows any angle; True / False mean 180 / 0.
    Outside the warped patch the mask, weight and area are 0.
    """
    scale = float(rng.uniform(*scale_range))
    angle = rotation_angle(rng, rotate)
    mat, size = expanding_rotation(patch.image.shape, angle, scale)
    mat = flip_affine(mat, size, rng.random() < 0.5, rng.random() < 0.5)
    warped = cv2.warpAffine(patch.image, mat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    layers = cv2.warpAffine(patch.layers, mat, size, flags=cv2.INTER_NEAREST)
    mask, weight, area = (np.ascontiguousarray(layers[..., i]) for i in range(3))
    return warped, mask, weight, area


def _blend_feather(region: np.ndarray, patch: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`region` moved `alpha` of the way towards `patch` (HW float32 weights in [0, 1]), rounded."""
    return cv2.blendLinear(np.ascontiguousarray(patch), np.ascontiguousarray(region), alpha, 1 - alpha)


@functools.lru_cache(maxsize=32)
def _coarse_index(full: int, coarse: int) -> np.ndarray:
    """Row (or column) of a `coarse`-sized map that each of `full` pixels falls in (nearest)."""
    return np.arange(full) * coarse // full


def _offset_range(on: np.ndarray, full: int, lo: int, hi: int, size: int) -> tuple[int, int] | None:
    """Offsets (first, last) along one axis that keep defect rows/cols [lo, hi] of a `size` box
    inside the image (`full` px) and between the first and last foreground rows/cols.

    `on` marks the coarse rows (or columns) holding any foreground; None when none does or the
    box cannot fit. A necessary condition only: `place_patch` checks every pixel after it.
    """
    idx = np.flatnonzero(on)
    if len(idx) == 0:
        return None
    coarse = len(on)
    first = -(-int(idx[0]) * full // coarse)  # first full pixel in the first foreground cell
    last = -(-(int(idx[-1]) + 1) * full // coarse) - 1
    low, high = max(0, first - lo), min(full - size, last - hi)
    return (low, high) if low <= high else None


def place_patch(
    patch_mask: np.ndarray,
    foreground: np.ndarray,
    rng: np.random.Generator,
    shape: tuple[int, int] | None = None,
    tries: int = PLACE_TRIES,
) -> tuple[int, int] | None:
    """Top-left (y, x) of a random place where the patch box fits and every defect pixel is foreground.

    Rejection sampling: uniform positions within the foreground's bounding box are checked by
    indexing the foreground at the defect pixels (microseconds), which draws uniformly among the
    valid places (all of them lie in that box), as the exhaustive `valid_offsets` does; only when `tries` draws all miss (a small or thin object) does the
    exhaustive search run. `foreground` may be coarser than the image (`shape`, default: the
    foreground's own): it is then read at scaled coordinates, as a nearest-neighbour upsampling
    would. None when nowhere fits.
    """
    h, w = patch_mask.shape
    fh, fw = shape if shape is not None else foreground.shape
    if h > fh or w > fw:
        return None
    sh, sw = foreground.shape
    ys, xs = np.nonzero(patch_mask)
    rows, cols = _coarse_index(fh, sh) * sw, _coarse_index(fw, sw)
    flat = np.ascontiguousarray(foreground).ravel()
    y_range = _offset_range(np.any(foreground, axis=1), fh, int(ys.min()), int(ys.max()), h)
    x_range = _offset_range(np.any(foreground, axis=0), fw, int(xs.min()), int(xs.max()), w)
    if y_range is None or x_range is None:
        return None
    low, high = (y_range[0], x_range[0]), (y_range[1] + 1, x_range[1] + 1)
    tried, batch = 0, PLACE_FIRST
    while tried < tries:
        y, x = rng.integers(low, high, (batch, 2)).T
        hit = flat[rows[y[:, None] + ys] + cols[x[:, None] + xs]].all(axis=1)
        if hit.any():
            k = int(np.argmax(hit))
            return int(y[k]), int(x[k])
        tried, batch = tried + batch, PLACE_BATCH
    if (sh, sw) != (fh, fw):
        foreground = cv2.resize(foreground.astype(np.uint8), (fw, fh), interpolation=cv2.INTER_NEAREST) > 0
    offsets = valid_offsets(patch_mask, foreground)
    if len(offsets) == 0:
        return None
    y, x = offsets[rng.integers(len(offsets))]
    return int(y), int(x)


def _blend_seamless(
    target: np.ndarray, patch: np.ndarray, area: np.ndarray, y: int, x: int
) -> np.ndarray | None:
    """Poisson cloning of the whole context patch into the target at (y, x); None when OpenCV refuses.

    The clone region is the patch's valid area, not a tight band around the defect: Poisson
    cloning flattens a thin defect (a scratch) whose region has almost no interior.
    """
    clone_mask = area.astype(np.uint8) * 255
    clone_mask[[0, -1], :] = 0
    clone_mask[:, [0, -1]] = 0
    # OpenCV centres the bounding box of the mask's non-zero pixels on the given point.
    bx, by, bw, bh = cv2.boundingRect(clone_mask)
    if bw == 0 or bh == 0:
        return None
    try:
        return cv2.seamlessClone(
            np.ascontiguousarray(patch),
            target,
            clone_mask,
            (x + bx + bw // 2, y + by + bh // 2),
            cv2.NORMAL_CLONE,
        )
    except cv2.error as exc:
        logger.warning(
            "seamless cloning failed (%s); falling back to feathered blending",
            str(exc).strip().splitlines()[-1],
        )
        return None


def paste_patch(
    target: np.ndarray,
    patch: Patch,
    rng: np.random.Generator,
    foreground: np.ndarray,
    scale_range: tuple[float, float] = (0.8, 1.2),
    rotate: float | bool = DEFAULT_MAX_ROTATION,
    blend: Blend = "feather",
    strength: float = 1.0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Paste an already cut defect patch (see `cut_defect`) into `target` on the bool `foreground`.

    The fast core of `paste_defect` for callers that cut their patches once (a bank in a data
    loader). `foreground` may be coarser than `target` (see `place_patch`); `strength` in [0, 1]
    scales the blend weights (1: the defect at full strength). Only the patch box is touched: no
    full-image float arrays.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must lie in [0, 1], got {strength}.")
    image, patch_mask, weight, area = transform_patch(patch, rng, scale_range, rotate)
    if not patch_mask.any():
        return None
    # The patch box fits the image, its defect the foreground.
    place = place_patch(patch_mask, foreground, rng, target.shape[:2])
    if place is None:
        return None
    y, x = place
    h, w = patch_mask.shape
    out = _blend_seamless(target, image, area, y, x) if blend == "seamless" else None
    if out is not None and strength < 1.0:
        alpha = np.full(patch_mask.shape, strength, np.float32)
        region = out[y : y + h, x : x + w]
        out[y : y + h, x : x + w] = _blend_feather(target[y : y + h, x : x + w], region, alpha)
    if out is None:
        out = target.copy()
        alpha = weight.astype(np.float32) * np.float32(strength / 255)
        out[y : y + h, x : x + w] = _blend_feather(target[y : y + h, x : x + w], image, alpha)
    mask = np.zeros(target.shape[:2], np.uint8)
    mask[y : y + h, x : x + w] = patch_mask
    return out, mask


def paste_defect(
    target: np.ndarray,
    source_image: np.ndarray,
    source_mask: np.ndarray,
    rng: np.random.Generator,
    foreground: np.ndarray | None = None,
    scale_range: tuple[float, float] = (0.8, 1.2),
    rotate: float | bool = DEFAULT_MAX_ROTATION,
    blend: Blend = "feather",
) -> tuple[np.ndarray, np.ndarray] | None:
    """Paste the defect of (source_image, source_mask) into `target`.

    The whole defect lands on `foreground` (all of the target when None). Returns the new image
    and its defect mask (HW uint8 {0,1}, exactly the pasted defect pixels), or None when no
    position fits. Pixels outside the pasted patch box are unchanged. `rotate`: the rotation limit
    in degrees (default a 15 degree jitter; 180 any angle; True / False mean 180 / 0). ``blend="seamless"`` uses
    Poisson cloning (smoother edges, but it washes out dark thin defects on small images) and
    falls back to feathered alpha (logged) where OpenCV refuses.
    """
    source_mask = np.asarray(source_mask)
    _check_inputs(target, source_image, source_mask, foreground, scale_range, blend)
    fg = np.ones(target.shape[:2], bool) if foreground is None else np.asarray(foreground).astype(bool)
    return paste_patch(target, cut_defect(source_image, source_mask > 0), rng, fg, scale_range, rotate, blend)


__all__ = [
    "Patch",
    "cut_defect",
    "feather_alpha",
    "paste_defect",
    "paste_patch",
    "place_patch",
    "transform_patch",
]
