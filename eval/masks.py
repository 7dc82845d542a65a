"""Mask quality of generated pairs, as pure numpy/scipy functions.

* Area distribution: the defect-area fraction of generated masks vs real masks (two-sample
  Kolmogorov-Smirnov statistic and p-value, plus mean and std of each), which catches masks that
  are systematically too big, too small or empty.
* Changed-region IoU: how well a mask covers the pixels a generator actually changed in its source
  image (for the inpainting and cross-attention paths, where the mask is derived, not given).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import ks_2samp


def area_fractions(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Fraction of defect pixels of each HW mask ({0,1} or bool)."""
    out = []
    for i, mask in enumerate(masks):
        mask = np.asarray(mask)
        if mask.ndim != 2 or mask.size == 0:
            raise ValueError(f"mask {i} must be a non-empty HW array, got shape {mask.shape}.")
        out.append(float((mask > 0).mean()))
    return np.asarray(out)


def mask_area_stats(real_masks: Sequence[np.ndarray], fake_masks: Sequence[np.ndarray]) -> dict[str, float]:
    """KS statistic/p-value between area-fraction distributions, with their means and stds."""
    real, fake = area_fractions(real_masks), area_fractions(fake_masks)
    if real.size == 0 or fake.size == 0:
        raise ValueError(f"need at least one real and one fake mask, got {real.size} and {fake.size}.")
    ks = ks_2samp(real, fake)
    return {
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "real_area_mean": float(real.mean()),
        "real_area_std": float(real.std()),
        "fake_area_mean": float(fake.mean()),
        "fake_area_std": float(fake.std()),
        "fake_empty_fraction": float((fake == 0).mean()),
        "n_real": int(real.size),
        "n_fake": int(fake.size),
    }


def changed_region(source: np.ndarray, generated: np.ndarray, threshold: int = 16) -> np.ndarray:
    """Boolean HW map of pixels whose largest channel difference exceeds ``threshold`` (0-255)."""
    source, generated = np.asarray(source), np.asarray(generated)
    if source.shape != generated.shape or source.ndim not in (2, 3):
        raise ValueError(
            f"source and generated images must have one HW or HWC shape, got "
            f"{source.shape} and {generated.shape}."
        )
    diff = np.abs(source.astype(np.int16) - generated.astype(np.int16))
    return (diff.max(axis=2) if diff.ndim == 3 else diff) > threshold


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two HW masks; 1.0 when both are empty."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}.")
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def changed_region_iou(
    mask: np.ndarray, source: np.ndarray, generated: np.ndarray, threshold: int = 16
) -> float:
    """IoU of a generated pair's mask with the region that actually changed from its source image."""
    return mask_iou(mask, changed_region(source, generated, threshold))


__all__ = ["area_fractions", "changed_region", "changed_region_iou", "mask_area_stats", "mask_iou"]
