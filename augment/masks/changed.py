"""The region a generator changed: the one definition the generator's output masks and the
evaluation's changed-region IoU share.

A pixel *visibly changed* when the largest channel difference between source and generated image,
smoothed by a Gaussian of ``smooth`` pixels, exceeds ``threshold`` (0-255 units). The generator's
output mask (`changed_region`) keeps only changed pixels near its input mask, drops specks and fills
holes: the model may leave parts of the input mask untouched (or repaint them identically), and
noise elsewhere must not leak in.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

__all__ = [
    "CHANGE_SMOOTHING",
    "CHANGE_THRESHOLD",
    "changed_region",
    "check_pair",
    "remove_small",
    "visible_change",
    "visible_difference",
]

CHANGE_THRESHOLD = 12.0  # 0-255 units: below this a change is not visible
CHANGE_SMOOTHING = 1.0  # Gaussian sigma (pixels) applied to the difference before thresholding


def check_pair(source: np.ndarray, generated: np.ndarray, mask: np.ndarray | None = None) -> None:
    """Raise ValueError unless both images have one HW or HWC shape (and ``mask`` their HW size)."""
    if source.shape != generated.shape or source.ndim not in (2, 3):
        raise ValueError(
            f"source and generated images must have one HW or HWC shape, got "
            f"{source.shape} and {generated.shape}."
        )
    if mask is not None and mask.shape != source.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} differs from the image size {source.shape[:2]}.")


def visible_difference(
    source: np.ndarray, generated: np.ndarray, smooth: float = CHANGE_SMOOTHING
) -> np.ndarray:
    """Per-pixel colour difference (max over channels, 0-255 units), Gaussian-smoothed by ``smooth``."""
    diff = np.abs(source.astype(np.float32) - generated.astype(np.float32))
    diff = diff.max(axis=2) if diff.ndim == 3 else diff
    return cv2.GaussianBlur(diff, (0, 0), smooth) if smooth > 0 else diff


def visible_change(
    source: np.ndarray,
    generated: np.ndarray,
    threshold: float = CHANGE_THRESHOLD,
    smooth: float = CHANGE_SMOOTHING,
) -> np.ndarray:
    """HW bool: the pixels whose (smoothed) difference exceeds ``threshold``."""
    source, generated = np.asarray(source), np.asarray(generated)
    check_pair(source, generated)
    return visible_difference(source, generated, smooth) > threshold


def remove_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop 8-connected components smaller than `min_area` pixels."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_area
    keep[0] = False
    return keep[labels]


def changed_region(
    source: np.ndarray,
    generated: np.ndarray,
    input_mask: np.ndarray,
    threshold: float = CHANGE_THRESHOLD,
    grow: int | None = None,
    min_area: int = 4,
) -> np.ndarray:
    """HW uint8 {0,1}: pixels that visibly changed (`visible_change`) near the input mask.

    The search area is the input mask dilated by `grow` pixels (default: 3% of the image side,
    at least 2); components smaller than `min_area` pixels are removed and holes filled.
    """
    source, generated, input_mask = np.asarray(source), np.asarray(generated), np.asarray(input_mask)
    check_pair(source, generated, input_mask)
    grow = max(2, round(0.03 * max(input_mask.shape))) if grow is None else grow
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    near = cv2.dilate((input_mask > 0).astype(np.uint8), kernel) > 0
    changed = visible_change(source, generated, threshold) & near
    return ndimage.binary_fill_holes(remove_small(changed, min_area)).astype(np.uint8)
