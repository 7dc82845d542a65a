"""Whether a generated sample is worth keeping.

`QualityFilter` rejects failed samples (no visible change, empty mask, mask off the object,
near-copy of a training shot) and counts rejections by reason so callers can report them; what
"visibly changed" means is `augment.masks.changed`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import cv2
import numpy as np

from augment.masks.changed import check_pair

Shot = tuple[np.ndarray, np.ndarray]
REASONS = ("empty_mask", "no_visible_change", "off_foreground", "near_duplicate")
PATCH = 32  # side of the normalised crops compared for near-duplicates


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
        diff = np.abs(source.astype(np.int16) - generated.astype(np.int16))
        if float((diff.max(axis=2) if diff.ndim == 3 else diff)[on].mean()) < self.min_change:
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
        check_pair(source, generated, mask)
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


__all__ = ["REASONS", "QualityFilter", "duplicate_distance"]
