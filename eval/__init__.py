"""Generation metrics: images -> features (cached) -> FID, KID, IS, precision/recall, IC-LPIPS, mask quality."""

from eval.cache import FeatureCache, cache_key, cached_features
from eval.compare import EvalConfig, compare_files, evaluate
from eval.features import FeatureSpec, InceptionFeatures, extract_features, load_inception
from eval.masks import changed_region_iou, mask_area_stats, mask_iou
from eval.metrics import fid, ic_lpips, inception_score, kid, precision_recall
from eval.report import write_report
from eval.sources import ImageSet, load_image_set

__all__ = [
    "EvalConfig",
    "FeatureCache",
    "FeatureSpec",
    "ImageSet",
    "InceptionFeatures",
    "cache_key",
    "cached_features",
    "changed_region_iou",
    "compare_files",
    "evaluate",
    "extract_features",
    "fid",
    "ic_lpips",
    "inception_score",
    "kid",
    "load_image_set",
    "load_inception",
    "mask_area_stats",
    "mask_iou",
    "precision_recall",
    "write_report",
]
