"""Compare real and generated image sets: features through the cache, then the pure metrics.

`compare_files` is one comparison of two file lists; `evaluate` runs it on two `ImageSet`s, over
all defect types and, when asked, per type. Every result carries what changes its numbers:
image counts, feature network, resize mode, resolution, seeds and subset sizes. A metric that
cannot be computed says why (``{"unavailable": reason}``) instead of being dropped or substituted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from augment.data.imageio import read_image, read_mask
from augment.devices import resolve_device, resolve_dtype
from eval import masks as mask_metrics
from eval import metrics
from eval.cache import FeatureCache, cached_features
from eval.features import feature_spec, load_inception, logits_unavailable_reason
from eval.metrics import METRICS
from eval.perceptual import Distance, load_lpips, lpips_matrices, lpips_unavailable_reason
from eval.sources import ImageSet

logger = logging.getLogger(__name__)

FID_BIAS_NOTE = (
    "FID is biased upwards at small N (it grows as N shrinks and is not 0 for two samples of one "
    "distribution; with N below the 2048 feature dimensions the covariances are singular). Compare "
    "FIDs only at equal N, against the real-vs-real row; KID is unbiased and the better guide here."
)


@dataclass(frozen=True)
class EvalConfig:
    """Settings that change the numbers; stored in every report."""

    metrics: tuple[str, ...] = ("fid", "kid", "is", "prc", "lpips", "masks")
    seed: int = 0
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    k: int = 3
    is_splits: int = 10
    batch_size: int = 16
    lpips_net: str = "alex"
    lpips_size: int = 256
    mask_threshold: int = 16

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; choose from {list(METRICS)}.")


def _guard(fn, *args, **kwargs) -> Any:
    """Run one metric; a ValueError (too few images, ...) becomes an 'unavailable' entry."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        return {"unavailable": str(exc)}


def _kid(real: np.ndarray, fake: np.ndarray, cfg: EvalConfig) -> dict[str, Any]:
    mean, std, m = metrics.kid(
        real, fake, cfg.kid_subsets, cfg.kid_subset_size, np.random.default_rng(cfg.seed)
    )
    return {"mean": mean, "std": std, "subset_size": m, "num_subsets": cfg.kid_subsets, "seed": cfg.seed}


def _prc(real: np.ndarray, fake: np.ndarray, cfg: EvalConfig) -> dict[str, Any]:
    precision, recall = metrics.precision_recall(real, fake, cfg.k)
    return {"precision": precision, "recall": recall, "k": cfg.k}


def _is(logits: np.ndarray | None, reason: str | None, cfg: EvalConfig) -> dict[str, Any]:
    if logits is None:
        return {"unavailable": reason or "no logits"}
    mean, std = metrics.inception_score(logits, cfg.is_splits)
    return {"mean": mean, "std": std, "splits": min(cfg.is_splits, len(logits))}


def _ic_lpips(
    fake_files: Sequence[Path],
    centre_files: Sequence[Path],
    distance: Distance | None,
    reason: str | None,
    cfg: EvalConfig,
) -> dict[str, Any]:
    if distance is None:
        return {"unavailable": reason or "no perceptual network"}
    fake = [read_image(Path(p)) for p in fake_files]
    centres = [read_image(Path(p)) for p in centre_files]
    cross, within = lpips_matrices(fake, centres, distance, cfg.lpips_size, cfg.batch_size)
    score, clusters = metrics.ic_lpips(cross, within)
    return {"value": score, "clusters_used": clusters, "n_centres": len(centres), "size": cfg.lpips_size}


def _masks(real_masks: Sequence[Path], fake_masks: Sequence[Path]) -> dict[str, Any]:
    if not real_masks or not fake_masks:
        return {"unavailable": "masks are needed on both sides (a bank or a dataset, not a plain folder)"}
    return mask_metrics.mask_area_stats(
        [read_mask(Path(p)) for p in real_masks], [read_mask(Path(p)) for p in fake_masks]
    )


class FeatureTable:
    """Features (and logits) of a list of files, extracted once and then sliced by file."""

    def __init__(
        self,
        files: Sequence[Path],
        extractor: nn.Module,
        cfg: EvalConfig,
        cache: FeatureCache | None = None,
        bit_depth: int | None = None,
    ) -> None:
        self.with_logits = "is" in cfg.metrics
        self.features, self.logits = cached_features(
            list(files), extractor, cache, cfg.batch_size, with_logits=self.with_logits, bit_depth=bit_depth
        )
        self.rows = {Path(f): i for i, f in enumerate(files)}

    def take(self, files: Sequence[Path]) -> tuple[np.ndarray, np.ndarray | None]:
        idx = [self.rows[Path(f)] for f in files]
        return self.features[idx], (self.logits[idx] if self.logits is not None else None)


def compare_files(
    real_files: Sequence[Path],
    fake_files: Sequence[Path],
    extractor: nn.Module,
    cfg: EvalConfig = EvalConfig(),
    cache: FeatureCache | None = None,
    distance: Distance | None = None,
    distance_reason: str | None = None,
    real_masks: Sequence[Path] = (),
    fake_masks: Sequence[Path] = (),
    lpips_centres: Sequence[Path] | None = None,
    tables: tuple[FeatureTable, FeatureTable] | None = None,
) -> dict[str, Any]:
    """All requested metrics for one (real files, fake files) comparison, as a JSON-friendly dict.

    ``tables`` holds features already extracted for supersets of the files (see `evaluate`).
    """
    if tables is None:
        tables = (
            FeatureTable(real_files, extractor, cfg, cache),
            FeatureTable(fake_files, extractor, cfg, cache),
        )
    real_f, real_l = tables[0].take(real_files)
    fake_f, fake_l = tables[1].take(fake_files)
    need_logits = "is" in cfg.metrics
    out: dict[str, Any] = {"n_real": len(real_files), "n_fake": len(fake_files)}
    if "fid" in cfg.metrics:
        out["fid"] = _guard(metrics.fid, real_f, fake_f)
    if "kid" in cfg.metrics:
        out["kid"] = _guard(_kid, real_f, fake_f, cfg)
    if "prc" in cfg.metrics:
        out["prc"] = _guard(_prc, real_f, fake_f, cfg)
    if need_logits:
        reason = logits_unavailable_reason(extractor)
        out["is_fake"] = _guard(_is, fake_l, reason, cfg)
        out["is_real"] = _guard(_is, real_l, reason, cfg)
    if "lpips" in cfg.metrics:
        centres = list(lpips_centres) if lpips_centres is not None else list(real_files)
        out["ic_lpips"] = _guard(_ic_lpips, fake_files, centres, distance, distance_reason, cfg)
    if "masks" in cfg.metrics:
        out["masks"] = _guard(_masks, real_masks, fake_masks)
    return out


def resolve_distance(cfg: EvalConfig, distance: Distance | None) -> tuple[Distance | None, str | None]:
    """The injected perceptual distance, else torchmetrics' LPIPS if its weights exist, else the reason."""
    if distance is not None or "lpips" not in cfg.metrics:
        return distance, None
    reason = lpips_unavailable_reason(cfg.lpips_net)
    if reason is not None:
        logger.warning("IC-LPIPS skipped: %s", reason)
        return None, reason
    return load_lpips(cfg.lpips_net), None


def evaluate(
    real: ImageSet,
    fake: ImageSet,
    cfg: EvalConfig = EvalConfig(),
    extractor: nn.Module | None = None,
    cache: FeatureCache | None = None,
    per_defect: bool = False,
    distance: Distance | None = None,
    device: str | None = None,
    dtype: str | None = None,
) -> dict[str, Any]:
    """Compare two image sets over all defect types (and per type when asked); returns the report dict.

    ``device`` / ``dtype`` place the feature network (auto / cpu / cuda:N; fp32 / bf16 / fp16); the
    dtype is part of the features' spec (and cache key), the device is recorded in the report.
    """
    extractor = extractor if extractor is not None else load_inception()
    where = resolve_device(device) if device is not None else None
    if where is not None or dtype is not None:
        extractor = extractor.to(
            device=where, dtype=None if dtype is None else resolve_dtype(dtype, where or "cpu")
        )
    distance, reason = resolve_distance(cfg, distance)
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "real": real.summary(),
        "fake": fake.summary(),
        "config": asdict(cfg),
        "features": feature_spec(extractor).to_dict(),
        "device": str(next(iter(extractor.parameters()), torch.empty(0)).device),
        "notes": [FID_BIAS_NOTE],
        "comparisons": {},
    }
    groups: list[tuple[str, str | None]] = [("all", None)]
    if per_defect:
        shared = sorted(set(real.images) & set(fake.images))
        groups += [(d, d) for d in shared]
        missing = sorted(set(real.images) ^ set(fake.images))
        if missing:
            report["notes"].append(f"defect types not in both sets, so not compared per type: {missing}")
    tables = (
        FeatureTable(real.files(), extractor, cfg, cache, real.bit_depth),
        FeatureTable(fake.files(), extractor, cfg, cache, fake.bit_depth),
    )
    for name, defect in groups:
        logger.info("comparing %s", name)
        report["comparisons"][name] = compare_files(
            real.files(defect),
            fake.files(defect),
            extractor,
            cfg,
            cache,
            distance,
            reason,
            real.mask_files(defect),
            fake.mask_files(defect),
            tables=tables,
        )
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


__all__ = [
    "FID_BIAS_NOTE",
    "METRICS",
    "EvalConfig",
    "FeatureTable",
    "compare_files",
    "evaluate",
    "resolve_distance",
]
