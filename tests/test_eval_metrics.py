"""Metric math on random and planted features, checked against independent numpy/scipy computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from eval import metrics


def _gauss(n: int, d: int = 8, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def _fid_by_sqrtm(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with scipy.linalg.sqrtm of the (non-symmetric) product S1 S2."""
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + np.trace(s1 + s2) - 2 * np.trace(np.real(scipy.linalg.sqrtm(s1 @ s2))))


def test_fid_of_a_set_with_itself_is_zero():
    x = _gauss(200)
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_grows_with_shift():
    x, y = _gauss(300, seed=1), _gauss(300, seed=2)
    values = [metrics.fid(x, y + s) for s in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values)
    assert values[-1] > 10 * values[0]


def test_fid_matches_sqrtm_formula():
    x, y = _gauss(100, seed=3), _gauss(120, shift=0.3, seed=4) * 1.5
    assert metrics.fid(x, y) == pytest.approx(_fid_by_sqrtm(x, y), rel=1e-6)


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated")
@pytest.mark.parametrize("n", [20, 200])
def test_fid_matches_clean_fid(n):
    """Against clean-fid's own frechet_distance, also with singular covariances (n < d)."""
    from cleanfid.fid import frechet_distance

    x, y = _gauss(n, d=32, seed=5), _gauss(n, d=32, shift=0.2, seed=6) * 1.2
    ref = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert metrics.fid(x, y) == pytest.approx(ref, rel=1e-5)


def test_fid_of_planted_means_is_squared_distance():
    x = _gauss(2000, seed=5)
    shift = np.zeros(8)
    shift[0] = 3.0
    # same covariance up to sampling: FID ~ |shift|^2 = 9
    assert metrics.fid(x, x + shift) == pytest.approx(9.0, abs=1e-6)


def test_kid_is_unbiased_around_zero_for_one_distribution():
    values = [
        metrics.kid(_gauss(40, seed=10 + i), _gauss(40, seed=100 + i), 20, 40, rng=i)[0] for i in range(30)
    ]
    mean, sem = np.mean(values), np.std(values) / np.sqrt(len(values))
    assert abs(mean) < 3 * sem
    assert min(values) < 0 < max(values)


def test_kid_detects_shift():
    same = metrics.kid(_gauss(50, seed=1), _gauss(50, seed=2), 20, 50)[0]
    shifted = metrics.kid(_gauss(50, seed=1), _gauss(50, shift=1.0, seed=2), 20, 50)[0]
    assert shifted > same + 0.1


def test_kid_matches_direct_unbiased_mmd():
    x, y = _gauss(30, seed=1), _gauss(25, shift=0.5, seed=2)
    mean, std, m = metrics.kid(x, y, num_subsets=1, subset_size=1000)
    assert (m, std) == (25, 0.0)
    # with one subset of the whole smaller set: reproduce the draw, then compute MMD^2 with loops
    rng = np.random.default_rng(0)
    f = y[rng.choice(25, 25, replace=False)]
    r = x[rng.choice(30, 25, replace=False)]

    def k(a, b):
        return (a @ b / 8 + 1) ** 3

    xx = sum(k(f[i], f[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(r[i], r[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(f[i], r[j]) for i in range(m) for j in range(m)) / m**2
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-9)


def test_kid_same_seed_same_value_and_seed_changes_it():
    x, y = _gauss(60, seed=1), _gauss(60, seed=2)
    a = metrics.kid(x, y, 5, 20, rng=3)
    assert a == metrics.kid(x, y, 5, 20, rng=3)
    assert a != metrics.kid(x, y, 5, 20, rng=4)


def test_precision_recall_of_a_set_with_itself_is_one():
    x = _gauss(50)
    assert metrics.precision_recall(x, x) == (1.0, 1.0)


def test_precision_recall_of_disjoint_clusters_is_zero():
    assert metrics.precision_recall(_gauss(40), _gauss(40, shift=100.0, seed=1)) == (0.0, 0.0)


def test_precision_recall_planted_mode_collapse():
    real = np.concatenate([_gauss(100, d=2, seed=1), _gauss(100, d=2, shift=50.0, seed=2)])
    fake = _gauss(100, d=2, seed=3)  # covers one of the two real modes
    precision, recall = metrics.precision_recall(real, fake)
    assert precision > 0.8
    assert 0.3 < recall < 0.6


def test_precision_recall_matches_cdist_reference():
    real, fake = _gauss(30, seed=1), _gauss(35, shift=0.7, seed=2)
    rr, ff, fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    r_rad, f_rad = np.sort(rr, 1)[:, 3], np.sort(ff, 1)[:, 3]
    precision = np.mean([(fr[i] <= r_rad).any() for i in range(35)])
    recall = np.mean([(fr[:, j] <= f_rad).any() for j in range(30)])
    assert metrics.precision_recall(real, fake) == pytest.approx((precision, recall))


def test_inception_score_bounds():
    confident = np.eye(10)[np.arange(100) % 10] * 50.0
    uniform = np.zeros((100, 10))
    assert metrics.inception_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-3)
    assert metrics.inception_score(uniform, splits=1)[0] == pytest.approx(1.0)


def test_inception_score_matches_direct_formula():
    logits = _gauss(40, d=6, seed=7) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    scores = []
    for part in np.array_split(p, 4):
        py = part.mean(0)
        scores.append(np.exp(np.mean([np.sum(q * (np.log(q) - np.log(py))) for q in part])))
    assert metrics.inception_score(logits, splits=4) == pytest.approx((np.mean(scores), np.std(scores)))


def test_ic_lpips_averages_within_cluster_pairs():
    # fakes 0,1,2 nearest to centre 0; fake 3 alone at centre 1 (skipped)
    to_real = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.9, 0.1]])
    within = np.array([[0, 0.2, 0.4, 1], [0.2, 0, 0.6, 1], [0.4, 0.6, 0, 1], [1, 1, 1, 0]])
    assert metrics.ic_lpips(to_real, within) == (pytest.approx(0.4), 1)


def test_ic_lpips_refuses_singleton_clusters():
    with pytest.raises(ValueError, match="every cluster has a single"):
        metrics.ic_lpips(1 - np.eye(3), np.ones((3, 3)))


@pytest.mark.parametrize(
    ("fn", "args", "match"),
    [
        (metrics.fid, (np.zeros((5, 3)), np.zeros((5, 4))), "differ in dimension"),
        (metrics.fid, (np.zeros((1, 3)), np.zeros((5, 3))), "at least 2 images"),
        (metrics.fid, (np.zeros(5), np.zeros((5, 3))), "2-D"),
        (metrics.precision_recall, (np.zeros((3, 2)), np.zeros((9, 2))), "at least 4 images"),
        (metrics.kid, (np.full((5, 2), np.nan), np.zeros((5, 2))), "NaN"),
    ],
)
def test_metric_input_errors(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)
