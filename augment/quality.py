"""What a generated defect really changed, and whether the sample is worth keeping.

* `changed_region`: the output mask of the inpainting path. The model may leave parts of the input
  mask untouched (or repaint them identically); the mask returned is where pixels visibly changed,
  searched only near the input mask so that noise elsewhere cannot leak in.
* `QualityFilter`: rejects failed samples (no visible change, empty mask, mask off the object,
  near-copy of a training shot) and counts rejections by reason so callers can report them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage

Shot = tuple[np.ndarray, np.ndarray]
REASONS = ("empty_mask", "no_visible_change", "off_foreground", "near_duplicate")
PATCH = 32  # side of the normalised crops compared for near-duplicates


def _difference(source: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Smoothed per-pixel colour difference (max over channels), in 0-255 units."""
    diff = np.abs(source.astype(np.float32) - generated.astype(np.float32))
    diff = diff.max(axis=2) if diff.ndim == 3 else diff
    return cv2.GaussianBlur(diff, (0, 0), 1.0)


def _check_pair(source: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> None:
    if source.shape != generated.shape:
        raise ValueError(f"source {source.shape} and generated {generated.shape} images differ in shape.")
    if mask.shape != source.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} differs from the image size {source.shape[:2]}.")


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
    threshold: float = 12.0,
    grow: int | None = None,
    min_area: int = 4,
) -> np.ndarray:
    """HW uint8 {0,1}: pixels that visibly changed (> `threshold` of 255) near the input mask.

    The search area is the input mask dilated by `grow` pixels (default: 3% of the image side,
    at least 2); components smaller than `min_area` pixels are removed and holes filled.
    """
    source, generated, input_mask = np.asarray(source), np.asarray(generated), np.asarray(input_mask)
    _check_pair(source, generated, input_mask)
    grow = max(2, round(0.03 * max(input_mask.shape))) if grow is None else grow
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    near = cv2.dilate((input_mask > 0).astype(np.uint8), kernel) > 0
    changed = (_difference(source, generated) > threshold) & near
    return ndimage.binary_fill_holes(remove_small(changed, min_area)).astype(np.uint8)


def _normalised_crop(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mask's bounding box (with a little context), gray, resized and standardised."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    pad = max(2, (rows[-1] - rows[0] + cols[-1] - cols[0]) // 8)
    y0, x0 = max(0, rows[0] - pad), max(0, cols[0] - pad)
    crop = image[y0 : rows[-1] + pad + 1, x0 : cols[-1] + pad + 1].astype(np.float32)
    gray = crop.mean(axis=2) if crop.ndim == 3 else crop
    small = cv2.resize(gray, (PATCH, PATCH), interpolation=cv2.INTER_AREA)
    return (small - small.mean()) / (small.std() + 1e-6)


def duplicate_distance(image: np.ndarray, mask: np.ndarray, shots: Sequence[Shot]) -> float:
    """Smallest 1 - correlation between the defect crop and any shot's defect crop (0 = identical)."""
    crop = _normalised_crop(image, mask)
    best = np.inf
    for shot_image, shot_mask in shots:
        if np.asarray(shot_mask).any():
            other = _normalised_crop(np.asarray(shot_image), np.asarray(shot_mask))
            best = min(best, float(1 - np.mean(crop * other)))
    return best


class QualityFilter:
    """Accept or reject generated samples; `counts` holds how many were rejected and why.

    Thresholds: `min_change` mean colour difference inside the mask (0-255 units), `min_on_object`
    share of mask pixels on the foreground, `duplicate_below` 1 - correlation to the nearest shot.
    """

    def __init__(
        self, min_change: float = 6.0, min_on_object: float = 0.9, duplicate_below: float = 0.05
    ) -> None:
        if min_change < 0 or not 0 <= min_on_object <= 1 or duplicate_below < 0:
            raise ValueError(
                f"QualityFilter needs min_change >= 0, 0 <= min_on_object <= 1 and "
                f"duplicate_below >= 0; got {min_change}, {min_on_object}, {duplicate_below}."
            )
        self.min_change, self.min_on_object, self.duplicate_below = min_change, min_on_object, duplicate_below
        self.counts: Counter[str] = Counter()
        self.accepted = 0

    def _reason(
        self,
        source: np.ndarray,
        generated: np.ndarray,
        mask: np.ndarray,
        foreground: np.ndarray | None,
        shots: Sequence[Shot],
    ) -> str:
        on = mask > 0
        if not on.any():
            return "empty_mask"
        if float(_difference(source, generated)[on].mean()) < self.min_change:
            return "no_visible_change"
        if foreground is not None and float(np.asarray(foreground, bool)[on].mean()) < self.min_on_object:
            return "off_foreground"
        if shots and duplicate_distance(generated, mask, shots) < self.duplicate_below:
            return "near_duplicate"
        return ""

    def check(
        self,
        source: np.ndarray,
        generated: np.ndarray,
        mask: np.ndarray,
        foreground: np.ndarray | None = None,
        shots: Sequence[Shot] = (),
    ) -> tuple[bool, str]:
        """(True, "ok") for a good sample, else (False, reason) with reason one of `REASONS`."""
        source, generated, mask = np.asarray(source), np.asarray(generated), np.asarray(mask)
        _check_pair(source, generated, mask)
        if foreground is not None and np.shape(foreground) != mask.shape:
            raise ValueError(f"foreground shape {np.shape(foreground)} differs from mask {mask.shape}.")
        reason = self._reason(source, generated, mask, foreground, shots)
        if reason:
            self.counts[reason] += 1
            return False, reason
        self.accepted += 1
        return True, "ok"

    def summary(self) -> dict[str, int]:
        """Accepted and rejected counts, per reason, for logs and records."""
        return {
            "accepted": self.accepted,
            "rejected": sum(self.counts.values()),
            **{r: self.counts[r] for r in REASONS},
        }


__all__ = ["REASONS", "QualityFilter", "changed_region", "duplicate_distance"]
