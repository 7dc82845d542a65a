"""Paired bootstrap intervals: a planted difference is found, identical arms are not told apart."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from downstream.protocol import intervals, pooled_over_draws, rivals
from downstream.scoring import RunScores, run_metrics
from downstream.stats import BETTER, NO_DIFFERENCE, WORSE, paired_bootstrap, verdict
from downstream.stats import _image_auroc_weighted as weighted_auroc

BINS = 50


def _run(seed: int, lift: float = 0.0, n_images: int = 12) -> RunScores:
    """Per-image histograms of a noisy detector; ``lift`` raises the defect pixels' probabilities."""
    rng = np.random.default_rng(seed)
    pos, neg = np.zeros((n_images, BINS), np.int32), np.zeros((n_images, BINS), np.int32)
    labels = np.arange(n_images) % 2 == 0
    image_max = np.zeros(n_images)
    for i in range(n_images):
        mask = rng.random(400) < (0.1 if labels[i] else 0.0)
        p = np.clip(rng.normal(0.3 + (0.2 + lift) * mask, 0.15), 0, 0.999)
        idx = (p * BINS).astype(int)
        pos[i] = np.bincount(idx[mask], minlength=BINS)
        neg[i] = np.bincount(idx[~mask], minlength=BINS)
        image_max[i] = p.max()
    return RunScores(pos, neg, image_max, labels, threshold=0.5)


def test_planted_difference_is_better_and_its_reverse_worse() -> None:
    base = [_run(s) for s in range(5)]
    lifted = [_run(s, lift=0.25) for s in range(5)]
    up = paired_bootstrap(lifted, base, n_boot=500)
    down = paired_bootstrap(base, lifted, n_boot=500)
    for metric in ("pixel_ap", "pixel_auroc", "miou"):
        assert up[metric].low > 0, metric
        assert up[metric].verdict == BETTER
        assert down[metric].high < 0
        assert down[metric].verdict == WORSE


def test_identical_arms_include_zero() -> None:
    runs = [_run(s) for s in range(5)]
    for iv in paired_bootstrap(runs, runs, n_boot=300).values():
        assert (iv.diff, iv.low, iv.high) == (0.0, 0.0, 0.0)
        assert iv.verdict == NO_DIFFERENCE


def test_same_detector_redrawn_includes_zero() -> None:
    a, b = [_run(s) for s in range(5)], [_run(100 + s) for s in range(5)]
    iv = paired_bootstrap(a, b, n_boot=500)["pixel_ap"]
    assert iv.low < 0 < iv.high


def test_point_difference_is_the_mean_over_seeds_of_the_reported_metric() -> None:
    a, b = [_run(s, lift=0.1) for s in range(3)], [_run(s) for s in range(3)]
    expected = np.mean(
        [run_metrics(x)["pixel_ap"] - run_metrics(y)["pixel_ap"] for x, y in zip(a, b, strict=True)]
    )
    assert paired_bootstrap(a, b, n_boot=10)["pixel_ap"].diff == pytest.approx(expected)


def test_bootstrap_is_seeded() -> None:
    a, b = [_run(s, lift=0.05) for s in range(3)], [_run(s) for s in range(3)]
    assert paired_bootstrap(a, b, n_boot=100, seed=1) == paired_bootstrap(a, b, n_boot=100, seed=1)
    assert paired_bootstrap(a, b, n_boot=100, seed=1) != paired_bootstrap(a, b, n_boot=100, seed=2)


def test_weighted_image_auroc_equals_auroc_of_the_repeated_images() -> None:
    run = _run(0)
    counts = np.array([[2, 0, 1, 3, 0, 1, 1, 0, 2, 1, 0, 1]], dtype=float)
    repeated = np.repeat(np.arange(12), counts[0].astype(int))
    expected = roc_auc_score(run.labels[repeated], run.image_max[repeated])
    assert weighted_auroc(run, counts)[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("low", "high", "expected"), [(0.1, 0.2, BETTER), (-0.2, -0.1, WORSE), (-0.1, 0.1, NO_DIFFERENCE)]
)
def test_verdict(low: float, high: float, expected: str) -> None:
    assert verdict(low, high) == expected


def test_unpaired_runs_are_refused() -> None:
    with pytest.raises(ValueError, match="one base run per arm run"):
        paired_bootstrap([_run(0)], [_run(0), _run(1)])
    with pytest.raises(ValueError, match="same test images"):
        paired_bootstrap([_run(0)], [_run(0, n_images=10)])


@pytest.mark.parametrize(("lift", "expected"), [(0.25, BETTER), (0.0, NO_DIFFERENCE)])
def test_draws_are_pooled_run_by_run_with_real_of_the_same_draw(lift: float, expected: str) -> None:
    def entry(draw: int) -> dict:
        seeds = [10 * draw + s for s in range(3)]
        scores = {"real": [_run(s) for s in seeds], "synthetic": [_run(s, lift) for s in seeds]}
        return {"setting": 1, "result": {"scores": scores, "test_defects": ["crack", "good"] * 6}}

    [pooled] = pooled_over_draws([entry(0), entry(1), {"setting": None, "result": entry(2)["result"]}], 300)
    assert (pooled["setting"], pooled["draws"]) == (1, 2)
    interval = pooled["intervals"]["all"]["synthetic"]["pixel_ap"]
    assert interval["verdict"] == expected


@pytest.mark.parametrize(("copy_lift", "expected"), [(0.0, BETTER), (0.25, NO_DIFFERENCE), (0.5, WORSE)])
def test_a_model_arm_is_also_paired_with_copy_paste(copy_lift: float, expected: str) -> None:
    seeds = range(4)
    scores = {
        "real": [_run(s, 0.25) for s in seeds],
        "synthetic": [_run(s, 0.25) for s in seeds],
        "copy-paste": [_run(s, copy_lift) for s in seeds],
    }
    defects = ["crack", "good"] * 6
    against_paste = intervals(scores, defects, 300, rivals(scores))
    assert set(against_paste["all"]) == {"synthetic"}
    assert against_paste["all"]["synthetic"]["pixel_ap"]["verdict"] == expected
    assert intervals(scores, defects, 300)["all"]["synthetic"]["pixel_ap"]["verdict"] == NO_DIFFERENCE


@pytest.mark.parametrize(
    ("arms", "expected"),
    [
        (("real", "synthetic"), {}),
        (("real", "synthetic", "copy-paste"), {"synthetic": "copy-paste"}),
        (("synthetic-only", "copy-paste-only", "copy-paste"), {"synthetic-only": "copy-paste-only"}),
    ],
)
def test_rivals_are_the_copy_paste_arms_run_beside_a_model_arm(arms: tuple[str, ...], expected: dict) -> None:
    scores = {arm: [_run(0)] for arm in arms}
    assert rivals(scores) == expected
    assert (intervals(scores, ["crack", "good"] * 6, 50, rivals(scores)) == {}) == (not expected)


def test_pooled_draws_pair_the_model_arm_with_copy_paste_too() -> None:
    def entry(draw: int) -> dict:
        seeds = [10 * draw + s for s in range(3)]
        scores = {
            "real": [_run(s) for s in seeds],
            "synthetic": [_run(s, 0.25) for s in seeds],
            "copy-paste": [_run(s, 0.25) for s in seeds],
        }
        return {"setting": 1, "result": {"scores": scores, "test_defects": ["crack", "good"] * 6}}

    [pooled] = pooled_over_draws([entry(0), entry(1)], 300)
    assert pooled["rivals"] == {"synthetic": "copy-paste"}
    assert pooled["intervals"]["all"]["synthetic"]["pixel_ap"]["verdict"] == BETTER
    assert pooled["rival_intervals"]["all"]["synthetic"]["pixel_ap"]["verdict"] == NO_DIFFERENCE
