"""What a defect looks like at its own scale: visible width, contrast, and crops centred on it.

Pure numpy/scipy functions of (image, mask) pairs, for comparing generated defects with real ones
where whole-image metrics cannot see them (a 2 px crack in a 250 x 630 image):

* **visible width** of a mask: twice the median distance to the background on the mask's ridge
  (pixels at least as far from the background as each of their 8 neighbours), minus one: a line
  n pixels wide measures n for odd n and n - 1 for even n (the definition the project's realism
  targets were set with; real and generated masks are measured alike);
* **contrast** of a defect: |mean inside - mean of the ring 1 to 4 px outside| / the ring's
  standard deviation (how far the defect stands out of its surroundings' own variation);
* **native crops**: a ``side`` x ``side`` crop centred on each defect's bounding box, at the image's
  own scale (mirrored at the border), which is what KID is computed on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from augment.synth.windows import centred_window, cut_padded

__all__ = ["contrast", "native_crops", "shape_stats", "visible_width"]

RING = (1, 4)  # px: the surroundings a defect's contrast is measured against


def visible_width(mask: np.ndarray) -> float:
    """Visible width of a mask's defect in pixels (NaN for an empty mask)."""
    m = np.asarray(mask) > 0
    if not m.any():
        return float("nan")
    distance = ndimage.distance_transform_edt(m)
    ridge = m & (distance >= ndimage.maximum_filter(distance, size=3))
    return 2.0 * float(np.median(distance[ridge])) - 1.0


def contrast(image: np.ndarray, mask: np.ndarray) -> float:
    """|mean inside - mean of the 1-4 px ring| / the ring's std, on the gray image (NaN if empty)."""
    m = np.asarray(mask) > 0
    if not m.any():
        return float("nan")
    outside = ndimage.distance_transform_edt(~m)
    ring = (outside >= RING[0]) & (outside <= RING[1])
    if not ring.any():
        return float("nan")
    gray = np.asarray(image, np.float32)
    gray = gray.mean(axis=2) if gray.ndim == 3 else gray
    return float(abs(gray[m].mean() - gray[ring].mean()) / (gray[ring].std() + 1e-6))


def shape_stats(images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> dict[str, float]:
    """Median visible width and contrast of a set of defects, with how many were measured."""
    if len(images) != len(masks) or not masks:
        raise ValueError(
            f"shape_stats needs one mask per image and at least one, got {len(images)} and {len(masks)}."
        )
    widths = [visible_width(m) for m in masks]
    contrasts = [contrast(i, m) for i, m in zip(images, masks, strict=True)]
    return {
        "width_median": float(np.nanmedian(widths)),
        "contrast_median": float(np.nanmedian(contrasts)),
        "n": len(masks),
    }


def native_crops(
    images: Sequence[np.ndarray], masks: Sequence[np.ndarray], side: int = 128
) -> list[np.ndarray]:
    """A ``side``-pixel crop centred on each (non-empty) defect, at the image's own scale."""
    return [
        cut_padded(np.asarray(i), centred_window(np.asarray(m), side))
        for i, m in zip(images, masks, strict=True)
        if np.asarray(m).any()
    ]
