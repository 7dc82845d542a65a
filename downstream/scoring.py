"""Scoring a model on validation or test images, image by image, so any choice or resample can be
recomputed without the model.

Predictions are made at the model's input size and upsampled (bilinear) to each image's own size;
each image then gives a pair of pixel histograms (``downstream.metrics.pixel_histograms``) and its
largest pixel probability (its image score). Validation and test images are scored the same way.
A scope is ``all`` (every image) or a defect type (its images plus every defect-free image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from augment.data.index import GOOD, Sample, load_sample_arrays
from augment.data.resize import resize_image
from downstream.metrics import image_auroc, metrics_from_histograms, pixel_histograms

__all__ = ["EvalSet", "RunScores", "load_eval_set", "run_metrics", "scope_indices", "score_images"]


@dataclass
class EvalSet:
    """Images at model input size, their masks at full size, their defect types (``good`` if none)."""

    inputs: np.ndarray
    masks: list[np.ndarray]
    defects: list[str]
    originals: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.masks)


@dataclass
class RunScores:
    """What one model scored on a set of images, per image, and the threshold chosen for it on validation.

    ``pos`` / ``neg``: (images, bins) counts of defect / defect-free pixels per probability bin;
    ``image_max``: each image's largest probability; ``labels``: whether it has a defect.
    """

    pos: np.ndarray
    neg: np.ndarray
    image_max: np.ndarray
    labels: np.ndarray
    threshold: float = 0.5

    def subset(self, indices: np.ndarray) -> RunScores:
        return RunScores(
            self.pos[indices],
            self.neg[indices],
            self.image_max[indices],
            self.labels[indices],
            self.threshold,
        )

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """The histograms of all its pixels together."""
        return self.pos.sum(0), self.neg.sum(0)


def load_eval_set(samples: Sequence[Sample], size: tuple[int, int], previews: int = 0) -> EvalSet:
    """The samples' images resized to ``size``, masks kept at full size; the first ``previews`` originals kept."""
    inputs, masks, defects, originals = [], [], [], []
    for k, s in enumerate(samples):
        image, mask = load_sample_arrays(s)
        inputs.append(resize_image(image, size))
        masks.append(mask)
        defects.append(s.defect)
        if k < previews:
            originals.append(image)
    return EvalSet(np.stack(inputs), masks, defects, originals)


def score_images(probs: np.ndarray, images: EvalSet, bins: int, threshold: float = 0.5) -> RunScores:
    """Per-image histograms and maxima of ``probs`` (model size) upsampled to each image's mask."""
    pos = np.zeros((len(images), bins), np.int32)
    neg = np.zeros((len(images), bins), np.int32)
    image_max = np.zeros(len(images))
    for k, (p, mask) in enumerate(zip(probs, images.masks, strict=True)):
        full = np.clip(cv2.resize(p, (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_LINEAR), 0, 1)
        pos[k], neg[k] = pixel_histograms(full, mask, bins)
        image_max[k] = float(full.max())
    labels = np.array([bool(m.any()) for m in images.masks])
    return RunScores(pos, neg, image_max, labels, threshold)


def scope_indices(defects: Sequence[str]) -> dict[str, np.ndarray]:
    """``all`` and each defect type: the indices of the images each scope is scored on."""
    types = sorted({d for d in defects if d != GOOD})
    out = {"all": np.arange(len(defects))}
    for t in types:
        out[t] = np.array([k for k, d in enumerate(defects) if d in (t, GOOD)])
    return out


def run_metrics(scores: RunScores) -> dict[str, Any]:
    """Every metric of one run on its images: pixel metrics pooled, F1/IoU at its threshold, image AUROC."""
    out = metrics_from_histograms(*scores.pooled(), scores.threshold)
    out["image_auroc"] = image_auroc(scores.image_max, scores.labels)
    return out
