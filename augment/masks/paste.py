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

from augment.masks.geometry import (
    DEFAULT_MAX_ROTATION,
    expanding_rotation,
    flip_affine,
    rotation_angle,
    valid_offsets,
)

logger = logging.getLogger(__name__)

Blend = Literal["feather", "seamless"]
DEFAULT_SCALE_RANGE = (0.8, 1.2)  # random scale of a pasted defect
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


@dataclass(frozen=True)
class Footprint:
    """Where a patch's defect pixels lie inside its box: all that placement checks."""

    mask: np.ndarray  # h x w uint8, 0/1
    ys: np.ndarray  # rows of the defect pixels
    xs: np.ndarray  # their columns
    rows: tuple[int, int]  # first defect row, number of rows
    cols: tuple[int, int]  # first defect column, number of columns

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return self.mask.nbytes + self.ys.nbytes + self.xs.nbytes

    @classmethod
    def of(cls, mask: np.ndarray) -> Footprint | None:
        """The footprint of a patch mask; None when it holds no defect pixel."""
        mask = np.ascontiguousarray(mask, dtype=np.uint8)
        x, y, w, h = cv2.boundingRect(mask)
        if w == 0:
            return None
        ys, xs = np.nonzero(mask)
        return cls(mask, ys, xs, (y, h), (x, w))


@dataclass(frozen=True)
class Warped:
    """A patch after its random scale, rotation and flip, ready to place and blend."""

    image: np.ndarray  # h x w x 3 uint8
    weight: np.ndarray  # h x w uint8 blend weight, 0..255 for [0, 1], 0 outside the patch
    area: np.ndarray  # h x w uint8, the patch's valid pixels (for Poisson cloning)
    footprint: Footprint

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (for caches with a byte budget)."""
        return self.image.nbytes + self.weight.nbytes + self.area.nbytes + self.footprint.nbytes


def transform_patch(
    patch: Patch,
    rng: np.random.Generator,
    scale_range: tuple[float, float],
    rotate: float | bool = DEFAULT_MAX_ROTATION,
) -> Warped | None:
    """Randomly scale, rotate and flip a patch; None when no defect pixel survives the warp.

    `rotate` is the rotation limit in degrees (see `augment.masks.geometry.rotation_angle`): the default
    15 degree jitter keeps the defect's orientation, 180 allows any angle; True / False mean 180 / 0.
    """
    angle = rotation_angle(rng, rotate)
    u = rng.random(3)  # scale, left-right flip, up-down flip
    scale = scale_range[0] + float(u[0]) * (scale_range[1] - scale_range[0])
    mat, size = expanding_rotation(patch.image.shape, angle, scale)
    mat = flip_affine(mat, size, bool(u[1] < 0.5), bool(u[2] < 0.5))
    image = cv2.warpAffine(patch.image, mat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    layers = cv2.warpAffine(patch.layers, mat, size, flags=cv2.INTER_NEAREST)
    footprint = Footprint.of(layers[..., 0])
    if footprint is None:
        return None
    return Warped(
        image, np.ascontiguousarray(layers[..., 1]), np.ascontiguousarray(layers[..., 2]), footprint
    )


def shrink_to_fit(warped: Warped, shape: tuple[int, ...]) -> Warped | None:
    """``warped`` scaled down (aspect kept) so its box fits an image of ``shape``; as it is when it
    already fits; None when no defect pixel survives. A defect larger than the target image is
    pasted smaller rather than not at all (the documented 'scale' rule)."""
    h, w = warped.footprint.mask.shape
    factor = min(1.0, shape[0] / h, shape[1] / w)
    if factor >= 1.0:
        return warped
    size = (max(1, int(w * factor)), max(1, int(h * factor)))
    footprint = Footprint.of(cv2.resize(warped.footprint.mask, size, interpolation=cv2.INTER_NEAREST))
    if footprint is None:
        return None
    return Warped(
        cv2.resize(warped.image, size, interpolation=cv2.INTER_AREA),
        cv2.resize(warped.weight, size, interpolation=cv2.INTER_AREA),
        cv2.resize(warped.area, size, interpolation=cv2.INTER_NEAREST),
        footprint,
    )


def _blend_feather(region: np.ndarray, patch: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`region` moved `alpha` of the way towards `patch` (HW float32 weights in [0, 1]), rounded."""
    return cv2.blendLinear(np.ascontiguousarray(patch), np.ascontiguousarray(region), alpha, 1 - alpha)


@functools.lru_cache(maxsize=32)
def _coarse_index(full: int, coarse: int, stride: int = 1) -> np.ndarray:
    """Row (or column) of a `coarse`-sized map that each of `full` pixels falls in (nearest),
    times `stride` (the coarse map's row length, to index it flattened)."""
    return np.arange(full) * coarse // full * stride


def _offset_range(
    cells: tuple[int, int], coarse: int, full: int, extent: tuple[int, int], size: int
) -> tuple[int, int] | None:
    """Offsets (first, last) along one axis that keep the defect's rows/cols `extent` (first,
    count) of a `size` box inside the image (`full` px) and within the foreground's coarse
    `cells` (first, count) of `coarse`.

    None when the box cannot fit. A necessary condition only: `place_patch` checks every pixel
    after it.
    """
    first = -(-cells[0] * full // coarse)  # first full pixel of the first foreground cell
    last = -(-(cells[0] + cells[1]) * full // coarse) - 1
    low, high = max(0, first - extent[0]), min(full - size, last - (extent[0] + extent[1] - 1))
    return (low, high) if low <= high else None


def place_patch(
    patch_mask: np.ndarray | Footprint,
    foreground: np.ndarray,
    rng: np.random.Generator,
    shape: tuple[int, int] | None = None,
    tries: int = PLACE_TRIES,
) -> tuple[int, int] | None:
    """Top-left (y, x) of a random place where the patch box fits and every defect pixel is foreground.

    Rejection sampling: uniform positions within the foreground's bounding box are checked by
    indexing the foreground at the defect pixels (microseconds), which draws uniformly among the
    valid places (all of them lie in that box), as the exhaustive `valid_offsets` does; only
    when `tries` draws all miss (a small or thin object) does the exhaustive search run.
    `foreground` may be coarser than the image (`shape`, default: the foreground's own): it is
    then read at scaled coordinates, as a nearest-neighbour upsampling would. `patch_mask` may
    be a precomputed `Footprint`. None when nowhere fits.
    """
    foot = patch_mask if isinstance(patch_mask, Footprint) else Footprint.of(patch_mask)
    fh, fw = shape if shape is not None else foreground.shape
    if foot is None or foot.mask.shape[0] > fh or foot.mask.shape[1] > fw:
        return None
    h, w = foot.mask.shape
    sh, sw = foreground.shape
    flat = np.ascontiguousarray(foreground, dtype=bool).ravel()
    fx, fy, fw_cells, fh_cells = cv2.boundingRect(flat.view(np.uint8).reshape(sh, sw))
    if fw_cells == 0:
        return None
    y_range = _offset_range((fy, fh_cells), sh, fh, foot.rows, h)
    x_range = _offset_range((fx, fw_cells), sw, fw, foot.cols, w)
    if y_range is None or x_range is None:
        return None
    low = np.array([y_range[0], x_range[0]])
    span = np.array([y_range[1] - y_range[0] + 1, x_range[1] - x_range[0] + 1])
    row_at, col_at = _coarse_index(fh, sh, sw), _coarse_index(fw, sw)
    tried, batch = 0, PLACE_FIRST
    while tried < tries:
        # floor(low + u * span) is uniform over the integers in [low, low + span).
        y, x = (low + (rng.random((batch, 2)) * span).astype(np.int64)).T
        hit = flat[row_at[y[:, None] + foot.ys] + col_at[x[:, None] + foot.xs]].all(axis=1)
        if hit.any():
            k = int(np.argmax(hit))
            return int(y[k]), int(x[k])
        tried, batch = tried + batch, PLACE_BATCH
    if (sh, sw) != (fh, fw):
        foreground = cv2.resize(foreground.astype(np.uint8), (fw, fh), interpolation=cv2.INTER_NEAREST) > 0
    offsets = valid_offsets(foot.mask, foreground)
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
    patch: Patch | Warped,
    rng: np.random.Generator,
    foreground: np.ndarray,
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE,
    rotate: float | bool = DEFAULT_MAX_ROTATION,
    blend: Blend = "feather",
    strength: float = 1.0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Paste an already cut defect patch (see `cut_defect`) into `target` on the bool `foreground`.

    The fast core of `paste_defect` for callers that cut their patches once (a bank in a data
    loader); a `Warped` patch is pasted as it is (`scale_range` and `rotate` then unused).
    `foreground` may be coarser than `target` (see `place_patch`); `strength` in [0, 1] scales
    the blend weights (1: the defect at full strength). A patch larger than `target` is scaled
    down to fit it (`shrink_to_fit`). Only the patch box is touched: no
    full-image float arrays.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must lie in [0, 1], got {strength}.")
    warped = transform_patch(patch, rng, scale_range, rotate) if isinstance(patch, Patch) else patch
    if warped is not None:
        warped = shrink_to_fit(warped, target.shape[:2])
    if warped is None:
        return None
    place = place_patch(warped.footprint, foreground, rng, target.shape[:2])
    if place is None:
        return None
    y, x = place
    h, w = warped.footprint.mask.shape
    box = (slice(y, y + h), slice(x, x + w))
    out = _blend_seamless(target, warped.image, warped.area, y, x) if blend == "seamless" else None
    if out is not None and strength < 1.0:
        alpha = np.full((h, w), strength, np.float32)
        out[box] = _blend_feather(target[box], out[box], alpha)
    if out is None:
        out = target.copy()
        alpha = warped.weight.astype(np.float32) * np.float32(strength / 255)
        out[box] = _blend_feather(target[box], warped.image, alpha)
    mask = np.zeros(target.shape[:2], np.uint8)
    mask[box] = warped.footprint.mask
    return out, mask


def paste_defect(
    target: np.ndarray,
    source_image: np.ndarray,
    source_mask: np.ndarray,
    rng: np.random.Generator,
    foreground: np.ndarray | None = None,
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE,
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
    "DEFAULT_SCALE_RANGE",
    "Footprint",
    "Patch",
    "Warped",
    "cut_defect",
    "feather_alpha",
    "paste_defect",
    "paste_patch",
    "place_patch",
    "shrink_to_fit",
    "transform_patch",
]
