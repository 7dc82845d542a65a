"""What a set of masks measures: defect area fractions, their distribution against real masks, IoU.

Pure numpy/scipy; the generator reports them for its text-to-image masks and the evaluation for
any generated set (`eval.masks`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import ks_2samp

__all__ = ["area_fractions", "mask_area_stats", "mask_iou"]


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


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two HW masks; 1.0 when both are empty."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}.")
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
