"""Pixel and image metrics of a defect segmenter, over all test pixels in constant memory.

Pixel metrics are **binned**, not exact: every pixel's defect probability falls into one of
``bins`` equal-width bins on [0, 1] (``floor(p * bins)``, 1.0 in the last bin), and two histograms
(defect pixels, defect-free pixels) are accumulated per image with ``bincount``. AUROC, AP and
F1-max are then computed from the histograms with the bin edges as thresholds, so memory does not
grow with the number or size of test images. When every probability lies on a bin's lower edge the
results equal scikit-learn's exact ones; otherwise pixels that share a bin count as ties, which
moves AUROC and AP by at most about ``1 / bins`` of their curve's slope (tested against sklearn).

F1 and IoU are taken at a threshold (0.5 unless given; the benchmark passes the one chosen on
validation, ``best_f1_threshold``), a bin edge so they are exact: ``iou_defect``
is the defect class's IoU over all test pixels pooled, ``miou`` the mean of the defect and
defect-free classes' IoU. An empty union counts as IoU 1 (nothing to find, nothing predicted),
as in smp's ``zero_division=1``. Image AUROC scores each image by its largest pixel probability and
is exact (one number per image is kept).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torchmetrics import Metric

DEFAULT_BINS = 1000


def _as_numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _check_pair(probs: np.ndarray, masks: np.ndarray) -> None:
    if probs.shape != masks.shape:
        raise ValueError(
            f"probabilities {probs.shape} and masks {masks.shape} must have the same shape; "
            "resize the prediction to the mask (bilinear) before the update."
        )
    if probs.size and (np.nanmin(probs) < 0 or np.nanmax(probs) > 1 or np.isnan(probs).any()):
        raise ValueError(
            f"probabilities must lie in [0, 1], got range [{np.nanmin(probs)}, {np.nanmax(probs)}] "
            "(or NaN); apply a sigmoid to logits first."
        )


def pixel_histograms(
    probs: np.ndarray | torch.Tensor, masks: np.ndarray | torch.Tensor, bins: int = DEFAULT_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of defect and defect-free pixels per probability bin: ``(positives, negatives)``."""
    p, m = _as_numpy(probs).astype(np.float64), _as_numpy(masks)
    _check_pair(p, m)
    # The tiny offset puts a value k/bins, which float rounding may land just below, in bin k.
    idx = np.minimum(np.floor(p.ravel() * bins + 1e-9).astype(np.int64), bins - 1)
    pos = m.ravel() > 0
    return (
        np.bincount(idx[pos], minlength=bins).astype(np.int64),
        np.bincount(idx[~pos], minlength=bins).astype(np.int64),
    )


def _cumulative(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives predicted at each threshold, from the highest bin down (last axis)."""
    return np.cumsum(pos[..., ::-1], axis=-1), np.cumsum(neg[..., ::-1], axis=-1)


def _scalar(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


def _divide(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, empty), where=den > 0)


# The histogram metrics below take histograms on the last axis, with any leading axes (the bootstrap
# passes a batch of resampled histograms); a single histogram gives a float.


def auroc_from_histograms(pos: np.ndarray, neg: np.ndarray) -> Any:
    """Area under the ROC curve (trapezoids through the bin edges); NaN with only one class."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    n_pos, n_neg = pos.sum(-1, keepdims=True), neg.sum(-1, keepdims=True)
    tp, fp = _cumulative(pos, neg)
    zero = np.zeros((*pos.shape[:-1], 1))
    tpr = np.concatenate([zero, _divide(tp, n_pos, math.nan)], axis=-1)
    fpr = np.concatenate([zero, _divide(fp, n_neg, math.nan)], axis=-1)
    area = np.sum((fpr[..., 1:] - fpr[..., :-1]) * (tpr[..., 1:] + tpr[..., :-1]) / 2, axis=-1)
    return _scalar(np.where((n_pos[..., 0] > 0) & (n_neg[..., 0] > 0), area, math.nan))


def ap_from_histograms(pos: np.ndarray, neg: np.ndarray) -> Any:
    """Average precision, ``sum (R_n - R_{n-1}) P_n`` as in sklearn; NaN without defect pixels."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    n_pos = pos.sum(-1, keepdims=True)
    tp, fp = _cumulative(pos, neg)
    precision = _divide(tp, tp + fp, 1.0)
    recall = np.concatenate([np.zeros((*pos.shape[:-1], 1)), _divide(tp, n_pos, math.nan)], axis=-1)
    ap = np.sum((recall[..., 1:] - recall[..., :-1]) * precision, axis=-1)
    return _scalar(np.where(n_pos[..., 0] > 0, ap, math.nan))


def _f1_curve(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """F1 when the top 1, 2, ... bins are called defect (0 without defect pixels)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    tp, fp = _cumulative(pos, neg)
    n_pos = pos.sum(-1, keepdims=True)
    return _divide(2 * tp, tp + fp + n_pos, 0.0)


def f1_max_from_histograms(pos: np.ndarray, neg: np.ndarray) -> Any:
    """Best F1 over the bin-edge thresholds; 0 without defect pixels."""
    return _scalar(_f1_curve(pos, neg).max(axis=-1))


def best_f1_threshold(pos: np.ndarray, neg: np.ndarray, default: float = 0.5) -> float:
    """The bin edge ``k / bins`` whose ``p >= k / bins`` rule has the best F1 (the highest edge of ties).

    Meant for validation histograms: the threshold then applied on test. ``default`` without defect pixels.
    """
    pos, neg = np.asarray(pos), np.asarray(neg)
    if pos.ndim != 1 or pos.shape != neg.shape:
        raise ValueError(f"expected two 1-D histograms of one length, got {pos.shape} and {neg.shape}.")
    if pos.sum() == 0:
        return default
    top = int(np.argmax(_f1_curve(pos, neg)))  # bins from the top: index j is the edge bins-1-j
    return (len(pos) - 1 - top) / len(pos)


def _confusion(pos: np.ndarray, neg: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    """(tp, fp, fn, tn) when ``p >= threshold`` is called defect (exact at bin edges)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    cut = math.ceil(threshold * pos.shape[-1] - 1e-9)
    return pos[..., cut:].sum(-1), neg[..., cut:].sum(-1), pos[..., :cut].sum(-1), neg[..., :cut].sum(-1)


def iou_from_histograms(pos: np.ndarray, neg: np.ndarray, threshold: float = 0.5) -> tuple[Any, Any]:
    """IoU of the defect and of the defect-free class when ``p >= threshold`` is called defect."""
    tp, fp, fn, tn = _confusion(pos, neg, threshold)
    return _scalar(_divide(tp, tp + fp + fn, 1.0)), _scalar(_divide(tn, tn + fn + fp, 1.0))


def f1_from_histograms(pos: np.ndarray, neg: np.ndarray, threshold: float = 0.5) -> Any:
    """F1 of the defect class when ``p >= threshold`` is called defect (1 when there is nothing to find
    and nothing is predicted, as for IoU)."""
    tp, fp, fn, _ = _confusion(pos, neg, threshold)
    return _scalar(_divide(2 * tp, 2 * tp + fp + fn, 1.0))


def image_auroc(scores: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> float:
    """AUROC of per-image scores against per-image labels (1 = has a defect); NaN with one class."""
    s, y = _as_numpy(scores).ravel(), _as_numpy(labels).ravel().astype(bool)
    if y.all() or not y.any():
        return math.nan
    return float(roc_auc_score(y, s))


def metrics_from_histograms(pos: np.ndarray, neg: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """All pixel metrics of a pair of histograms (floats; arrays for leading axes).

    ``f1``, ``iou_defect`` and ``miou`` at ``threshold``; ``f1_max`` at the best threshold of these
    very histograms (an upper bound, not for reporting on test).
    """
    iou_defect, iou_good = iou_from_histograms(pos, neg, threshold)
    return {
        "pixel_auroc": auroc_from_histograms(pos, neg),
        "pixel_ap": ap_from_histograms(pos, neg),
        "f1": f1_from_histograms(pos, neg, threshold),
        "f1_max": f1_max_from_histograms(pos, neg),
        "iou_defect": iou_defect,
        "miou": (iou_defect + iou_good) / 2,
    }


class SegmentationMetrics(Metric):
    """Streaming binned pixel metrics plus image AUROC; see the module docstring.

    ``update(probs, masks)`` takes one image (HW) or a batch (NHW) of probabilities in [0, 1] and
    binary masks of the same shape; ``compute()`` returns a dict of floats.
    """

    higher_is_better = True
    full_state_update = False
    pos: torch.Tensor
    neg: torch.Tensor
    image_scores: list[torch.Tensor]
    image_labels: list[torch.Tensor]

    def __init__(self, bins: int = DEFAULT_BINS, threshold: float = 0.5) -> None:
        super().__init__()
        if not isinstance(bins, int) or bins < 2:
            raise ValueError(f"bins must be an integer >= 2, got {bins!r}.")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {threshold}.")
        self.bins, self.threshold = bins, threshold
        self.add_state("pos", default=torch.zeros(bins, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("neg", default=torch.zeros(bins, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("image_scores", default=[], dist_reduce_fx="cat")
        self.add_state("image_labels", default=[], dist_reduce_fx="cat")

    def update(self, probs: np.ndarray | torch.Tensor, masks: np.ndarray | torch.Tensor) -> None:
        p, m = _as_numpy(probs), _as_numpy(masks)
        if p.ndim == 2:
            p, m = p[None], m[None]
        if p.ndim != 3:
            raise ValueError(f"expected probabilities of shape HW or NHW, got {p.shape}.")
        pos, neg = pixel_histograms(p, m, self.bins)
        self.pos += torch.from_numpy(pos)
        self.neg += torch.from_numpy(neg)
        flat_p, flat_m = p.reshape(len(p), -1), m.reshape(len(m), -1)
        self.image_scores.append(torch.from_numpy(flat_p.max(axis=1).astype(np.float64)))
        self.image_labels.append(torch.from_numpy((flat_m > 0).any(axis=1)))

    def compute(self) -> dict[str, float]:
        out = metrics_from_histograms(self.pos.numpy(), self.neg.numpy(), self.threshold)
        scores = (
            self.image_scores
            if isinstance(self.image_scores, torch.Tensor)
            else (torch.cat(self.image_scores) if self.image_scores else torch.zeros(0))
        )
        labels = (
            self.image_labels
            if isinstance(self.image_labels, torch.Tensor)
            else (torch.cat(self.image_labels) if self.image_labels else torch.zeros(0, dtype=torch.bool))
        )
        out["image_auroc"] = image_auroc(scores, labels)
        return out


__all__ = [
    "DEFAULT_BINS",
    "SegmentationMetrics",
    "ap_from_histograms",
    "auroc_from_histograms",
    "best_f1_threshold",
    "f1_from_histograms",
    "f1_max_from_histograms",
    "image_auroc",
    "iou_from_histograms",
    "metrics_from_histograms",
    "pixel_histograms",
]
