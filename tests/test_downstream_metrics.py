"""Binned pixel metrics against scikit-learn's exact ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    jaccard_score,
    precision_recall_curve,
    roc_auc_score,
)

from downstream.metrics import (
    SegmentationMetrics,
    best_f1_threshold,
    f1_from_histograms,
    f1_max_from_histograms,
    image_auroc,
    metrics_from_histograms,
    pixel_histograms,
)

BINS = 100


def _case(kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities on bin edges (so binned == exact) and masks of a given kind, shape (3, 16, 16)."""
    rng = np.random.default_rng(seed)
    masks = (rng.random((3, 16, 16)) < 0.2).astype(np.uint8)
    if kind == "all-zero":
        masks[:] = 0
    elif kind == "all-one":
        masks[:] = 1
    noise = rng.integers(0, BINS, size=masks.shape) / BINS
    probs = np.clip(np.where(masks > 0, noise + 0.3, noise - 0.3), 0, (BINS - 1) / BINS)
    return np.round(probs * BINS) / BINS, masks


def _computed(probs: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    metric = SegmentationMetrics(bins=BINS)
    for p, m in zip(probs, masks, strict=True):
        metric.update(p, m)
    return metric.compute()


def _sklearn_f1_max(y: np.ndarray, s: np.ndarray) -> float:
    precision, recall, _ = precision_recall_curve(y, s)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
    )
    return float(f1.max())


def test_matches_sklearn_on_bin_edges() -> None:
    probs, masks = _case("mixed")
    got = _computed(probs, masks)
    y, s = masks.ravel(), probs.ravel()
    assert got["pixel_auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert got["pixel_ap"] == pytest.approx(average_precision_score(y, s), abs=1e-9)
    assert got["f1_max"] == pytest.approx(_sklearn_f1_max(y, s), abs=1e-9)
    pred = (s >= 0.5).astype(int)
    assert got["iou_defect"] == pytest.approx(jaccard_score(y, pred), abs=1e-12)
    assert got["miou"] == pytest.approx(jaccard_score(y, pred, average="macro"), abs=1e-12)


def test_close_to_sklearn_on_continuous_scores() -> None:
    rng = np.random.default_rng(1)
    masks = (rng.random((4, 32, 32)) < 0.1).astype(np.uint8)
    probs = np.clip(rng.normal(0.3 + 0.3 * masks, 0.2), 0, 1)
    metric = SegmentationMetrics(bins=1000)
    metric.update(torch.from_numpy(probs), torch.from_numpy(masks))
    got = metric.compute()
    assert got["pixel_auroc"] == pytest.approx(roc_auc_score(masks.ravel(), probs.ravel()), abs=2e-3)
    assert got["pixel_ap"] == pytest.approx(average_precision_score(masks.ravel(), probs.ravel()), abs=2e-3)


@pytest.mark.parametrize("kind", ["all-zero", "all-one"])
def test_single_class_masks(kind: str) -> None:
    probs, masks = _case(kind)
    got = _computed(probs, masks)
    y, pred = masks.ravel(), (probs.ravel() >= 0.5).astype(int)
    assert math.isnan(got["pixel_auroc"])
    assert math.isnan(got["image_auroc"])
    assert got["iou_defect"] == pytest.approx(jaccard_score(y, pred, zero_division=1.0))
    if kind == "all-one":
        assert got["pixel_ap"] == pytest.approx(average_precision_score(y, probs.ravel()))
        assert got["f1_max"] == pytest.approx(_sklearn_f1_max(y, probs.ravel()))
    else:
        assert math.isnan(got["pixel_ap"])
        assert got["f1_max"] == 0.0


def test_empty_prediction_on_empty_mask_is_iou_one() -> None:
    got = _computed(np.zeros((1, 8, 8)), np.zeros((1, 8, 8), np.uint8))
    assert got["iou_defect"] == 1.0
    assert got["miou"] == 1.0


def test_image_auroc_uses_max_pixel() -> None:
    probs, masks = _case("mixed")
    masks[0] = 0
    got = _computed(probs, masks)
    expected = roc_auc_score(masks.reshape(3, -1).any(axis=1), probs.reshape(3, -1).max(axis=1))
    assert got["image_auroc"] == pytest.approx(expected)
    assert image_auroc(np.array([0.1, 0.9]), np.array([0, 1])) == 1.0


def test_batch_and_per_image_updates_agree() -> None:
    probs, masks = _case("mixed", seed=2)
    batched = SegmentationMetrics(bins=BINS)
    batched.update(probs, masks)
    assert batched.compute() == pytest.approx(_computed(probs, masks), nan_ok=True)


@pytest.mark.parametrize(
    ("probs", "masks", "match"),
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), "same shape"),
        (np.full((4, 4), 1.5), np.zeros((4, 4)), r"\[0, 1\]"),
    ],
)
def test_bad_inputs_are_refused(probs: np.ndarray, masks: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pixel_histograms(probs, masks)


def test_bad_bins_are_refused() -> None:
    with pytest.raises(ValueError, match="bins must be an integer"):
        SegmentationMetrics(bins=1)


def test_f1_at_a_threshold_matches_sklearn() -> None:
    probs, masks = _case("mixed", seed=3)
    pos, neg = pixel_histograms(probs, masks, BINS)
    y, s = masks.ravel(), probs.ravel()
    for threshold in (0.3, 0.5, 0.71):
        assert f1_from_histograms(pos, neg, threshold) == pytest.approx(
            f1_score(y, s >= threshold), abs=1e-12
        )


def test_best_threshold_reaches_the_best_f1() -> None:
    probs, masks = _case("mixed", seed=4)
    pos, neg = pixel_histograms(probs, masks, BINS)
    threshold = best_f1_threshold(pos, neg)
    assert f1_from_histograms(pos, neg, threshold) == pytest.approx(f1_max_from_histograms(pos, neg))
    assert best_f1_threshold(np.zeros(BINS), neg) == 0.5


def test_histogram_metrics_take_a_batch() -> None:
    hists = [pixel_histograms(*_case("mixed", seed=k), BINS) for k in range(3)]
    pos, neg = np.stack([h[0] for h in hists]), np.stack([h[1] for h in hists])
    batched = metrics_from_histograms(pos, neg, 0.4)
    for k, (p, n) in enumerate(hists):
        for name, value in metrics_from_histograms(p, n, 0.4).items():
            assert batched[name][k] == pytest.approx(value)
