"""How sure: paired differences to the ``real`` arm with bootstrap intervals over seeds × test images.

Each arm is compared with ``real`` trained with the same seed (same initial weights, same sampler)
and scored on the same test images. The statistic is the difference of the **reported metric
itself**: for each seed, the metric of the arm minus that of ``real``, averaged over seeds. A
bootstrap replicate draws the seeds with replacement and, independently, the test images with
replacement (one draw of images shared by every seed and both arms: the pairing is kept), and
recomputes each pooled pixel metric from the drawn images' pixel histograms (every pixel of a drawn
image counts as many times as the image was drawn), F1 / IoU at each run's own validation
threshold, and image AUROC from the drawn images' maxima.

Why pixel contributions and not an average of per-image APs: a per-image AP does not exist on a
defect-free image (no defect pixel) and weighs a 10-pixel crack like a 10,000-pixel one, while the
table reports AP over all test pixels pooled; the interval should be about the number in the table.

The 95 % interval is the 2.5th to 97.5th percentile of the replicates (replicates where a metric is
undefined, e.g. no defect image drawn, are left out and counted). The verdict is "better" or
"worse" only when the interval excludes 0, "no measurable difference" otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from downstream.metrics import metrics_from_histograms
from downstream.scoring import RunScores

__all__ = ["BETTER", "NO_DIFFERENCE", "STAT_METRICS", "WORSE", "Interval", "paired_bootstrap", "verdict"]

STAT_METRICS = ("pixel_ap", "pixel_auroc", "f1", "iou_defect", "miou", "image_auroc")
BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no measurable difference"


@dataclass(frozen=True)
class Interval:
    """A paired difference (arm - real), its 95 % bootstrap interval and what it says."""

    diff: float
    low: float
    high: float
    n_boot: int
    n_valid: int

    @property
    def verdict(self) -> str:
        return verdict(self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"verdict": self.verdict}


def verdict(low: float, high: float) -> str:
    """ "better" when the interval lies above 0, "worse" below, "no measurable difference" otherwise."""
    if math.isnan(low) or math.isnan(high):
        return NO_DIFFERENCE
    return BETTER if low > 0 else WORSE if high < 0 else NO_DIFFERENCE


def _draw_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) counts: how often each of ``n`` units is drawn in each replicate."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def _image_auroc_weighted(scores: RunScores, weights: np.ndarray) -> np.ndarray:
    """Image AUROC of each row of image ``weights`` (ties count one half); NaN with one class drawn."""
    pos, neg = scores.image_max[scores.labels], scores.image_max[~scores.labels]
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    w_pos, w_neg = weights[:, scores.labels], weights[:, ~scores.labels]
    num = np.einsum("bi,ij,bj->b", w_pos, wins, w_neg)
    den = w_pos.sum(1) * w_neg.sum(1)
    return np.divide(num, den, out=np.full(len(weights), math.nan), where=den > 0)


def _metrics_weighted(
    scores: RunScores, weights: np.ndarray, metrics: Sequence[str]
) -> dict[str, np.ndarray]:
    """Each metric of one run for each row of image ``weights`` (replicates, images)."""
    pos = weights @ scores.pos.astype(np.float64)
    neg = weights @ scores.neg.astype(np.float64)
    values = metrics_from_histograms(pos, neg, scores.threshold)
    out = {m: np.asarray(values[m], dtype=np.float64) for m in metrics if m != "image_auroc"}
    if "image_auroc" in metrics:
        out["image_auroc"] = _image_auroc_weighted(scores, weights)
    return out


def paired_bootstrap(
    arm: Sequence[RunScores],
    base: Sequence[RunScores],
    metrics: Sequence[str] = STAT_METRICS,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Interval]:
    """Intervals of ``mean over seeds (metric(arm) - metric(base))``; ``arm[k]`` and ``base[k]`` share a seed.

    Every run must score the same images in the same order (same labels).
    """
    if not arm or len(arm) != len(base):
        raise ValueError(
            f"paired_bootstrap needs one base run per arm run (same seeds), got {len(arm)} and {len(base)}."
        )
    n_images = len(arm[0].labels)
    for runs in (arm, base):
        for r in runs:
            if len(r.labels) != n_images or not np.array_equal(r.labels, arm[0].labels):
                raise ValueError("every run must score the same test images in the same order.")
    rng = np.random.default_rng(seed)
    seed_w = _draw_counts(len(arm), n_boot, rng)
    image_w = _draw_counts(n_images, n_boot, rng)
    full = np.ones((1, n_images))
    diffs = {m: np.zeros(n_boot) for m in metrics}
    points = {m: 0.0 for m in metrics}
    for k, (a, b) in enumerate(zip(arm, base, strict=True)):
        ma, mb = _metrics_weighted(a, image_w, metrics), _metrics_weighted(b, image_w, metrics)
        pa, pb = _metrics_weighted(a, full, metrics), _metrics_weighted(b, full, metrics)
        for m in metrics:
            d = ma[m] - mb[m]
            diffs[m] += np.where(seed_w[:, k] > 0, d * seed_w[:, k], 0.0) / len(arm)
            points[m] += float(pa[m][0] - pb[m][0]) / len(arm)
    out = {}
    for m in metrics:
        valid = diffs[m][~np.isnan(diffs[m])]
        low, high = np.percentile(valid, [2.5, 97.5]) if len(valid) else (math.nan, math.nan)
        out[m] = Interval(points[m], float(low), float(high), n_boot, len(valid))
    return out
