"""Generation metrics: images -> features (cached) -> FID, KID, IS, precision/recall, IC-LPIPS, mask quality.

The pure metric functions (numpy/scipy) are imported eagerly; everything that needs torch loads on
first attribute access, so ``import eval.metrics`` and the command line stay light.
"""

from __future__ import annotations

import importlib
from typing import Any

from eval.masks import changed_region_iou, mask_area_stats, mask_iou
from eval.metrics import METRICS, fid, ic_lpips, inception_score, kid, precision_recall
from eval.report import write_report
from eval.sources import ImageSet, image_set_from_samples, load_image_set

# public name -> module that defines it (imported on first use)
_LAZY = {
    "FeatureCache": "eval.cache",
    "cache_key": "eval.cache",
    "cached_features": "eval.cache",
    "EvalConfig": "eval.compare",
    "compare_files": "eval.compare",
    "evaluate": "eval.compare",
    "FeatureSpec": "eval.features",
    "InceptionFeatures": "eval.features",
    "extract_features": "eval.features",
    "load_inception": "eval.features",
    "load_lpips": "eval.perceptual",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eval' has no attribute {name!r}")


__all__ = [
    "METRICS",
    "ImageSet",
    "changed_region_iou",
    "fid",
    "ic_lpips",
    "image_set_from_samples",
    "inception_score",
    "kid",
    "load_image_set",
    "mask_area_stats",
    "mask_iou",
    "precision_recall",
    "write_report",
    *_LAZY,
]
