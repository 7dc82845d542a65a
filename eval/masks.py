"""Mask quality of generated pairs, as pure numpy functions.

* Area distribution: the defect-area fraction of generated masks vs real masks (two-sample
  Kolmogorov-Smirnov statistic and p-value, plus mean and std of each), which catches masks that
  are systematically too big, too small or empty (`augment.masks.measure`).
* Changed-region IoU: how well a mask covers the pixels a generator actually changed in its source
  image (for the inpainting and cross-attention paths, where the mask is derived, not given), with
  the generator's own definition of a changed pixel (`augment.masks.changed.changed_pixels`: a
  channel difference above the noise floor).
"""

from __future__ import annotations

import numpy as np

from augment.masks.changed import changed_pixels
from augment.masks.measure import area_fractions, mask_area_stats, mask_iou

__all__ = ["area_fractions", "changed_region_iou", "mask_area_stats", "mask_iou"]


def changed_region_iou(
    mask: np.ndarray, source: np.ndarray, generated: np.ndarray, threshold: float | None = None
) -> float:
    """IoU of a generated pair's mask with the region that actually changed from its source image.

    The changed pixels are `changed_pixels` (a planted sharp-edged edit gives IoU 1 with its own
    mask); ``threshold`` (0-255 units) replaces the noise floor.
    """
    return mask_iou(mask, changed_pixels(source, generated, threshold))
