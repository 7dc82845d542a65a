"""Generation metrics as pure functions of feature arrays (numpy/scipy only, no networks).

Features are (N, D) arrays from eval/features.py; which network and resize made them is recorded
by the caller. Formulas follow the reference implementations so numbers are comparable:

* FID: Fréchet distance of Gaussians fitted with unbiased covariances (pytorch-fid, clean-fid).
  It is biased upwards at small N (it is not zero even for two samples of one distribution).
* KID: unbiased MMD² with the cubic polynomial kernel ``(x·y / d + 1)^3`` averaged over random
  subsets (Bińkowski et al.; the StyleGAN/clean-fid code), subsets drawn from an explicit Generator.
* Precision/recall: improved P&R with k-NN radii (Kynkäänniemi et al. 2019), k = 3.
* IS: ``exp(E KL(p(y|x) || p(y)))`` over splits (Salimans et al.; torch-fidelity).
* IC-LPIPS: generated images are assigned to their nearest real shot by LPIPS; the mean pairwise
  LPIPS inside each cluster is averaged over clusters (Ojha et al. 2021, used by AnomalyDiffusion).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, logsumexp

# Metric groups a report can ask for (``prc``: precision + recall; ``masks``: mask-area statistics).
METRICS = ("fid", "kid", "is", "prc", "lpips", "masks")


def _check_features(name: str, x: np.ndarray, min_rows: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) feature array, got shape {x.shape}.")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} has {x.shape[0]} rows; this metric needs at least {min_rows} images.")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values; check the feature extractor.")
    return x


def _check_pair(real: np.ndarray, fake: np.ndarray, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    real, fake = _check_features("real", real, min_rows), _check_features("fake", fake, min_rows)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake features differ in dimension: {real.shape[1]} vs {fake.shape[1]}; "
            "extract both with the same network."
        )
    return real, fake


def gaussian_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of features (N, D)."""
    x = _check_features("features", x)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (tiny negative eigenvalues clipped)."""
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|² + tr(S1 + S2 - 2 sqrt(S1 S2))``.

    ``tr sqrt(S1 S2)`` is computed as the sum of square roots of the eigenvalues of the symmetric
    ``sqrt(S1) S2 sqrt(S1)`` (same spectrum as ``S1 S2``): exact for singular covariances, and several
    times faster than ``scipy.linalg.sqrtm`` at 2048 dimensions. It matches clean-fid's
    ``frechet_distance`` (tested).
    """
    diff = mu1 - mu2
    root = _psd_sqrt(sigma1)
    eig = np.linalg.eigvalsh(root @ sigma2 @ root)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet Inception Distance between two feature sets (lower is better)."""
    real, fake = _check_pair(real, fake)
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def kid(
    real: np.ndarray,
    fake: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    rng: np.random.Generator | int = 0,
) -> tuple[float, float, int]:
    """Kernel Inception Distance: (mean, std over subsets, subset size used); lower is better.

    ``subset_size`` is capped at the smaller set, so few-shot sets of tens of images work.
    """
    real, fake = _check_pair(real, fake)
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}.")
    rng = np.random.default_rng(rng)
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m < 2:
        raise ValueError(f"KID needs subsets of at least 2 images, got subset_size={subset_size}.")
    d = real.shape[1]
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = fake[rng.choice(fake.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        off_diag = kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)
        values[i] = off_diag / (m * (m - 1)) - 2.0 * kxy.mean()
    return float(values.mean()), float(values.std()), m


def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def knn_radii(x: np.ndarray, k: int = 3) -> np.ndarray:
    """Distance of each row to its k-th nearest other row."""
    x = _check_features("features", x, min_rows=k + 1)
    dist = _pairwise_distances(x, x)
    return np.partition(dist, k, axis=1)[:, k]


def _coverage(manifold: np.ndarray, radii: np.ndarray, probes: np.ndarray) -> float:
    """Fraction of probes inside at least one k-NN ball of the manifold points."""
    dist = _pairwise_distances(probes, manifold)
    return float((dist <= radii[None, :]).any(axis=1).mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision (fake inside the real manifold) and recall (real inside the fake one)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    real, fake = _check_pair(real, fake, min_rows=k + 1)
    precision = _coverage(real, knn_radii(real, k), fake)
    recall = _coverage(fake, knn_radii(fake, k), real)
    return precision, recall


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Inception Score (mean, std over splits) from class logits (N, C); higher is better.

    ``splits`` is capped at N so that small sets give one score per image at worst.
    """
    logits = _check_features("logits", logits, min_rows=1)
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}.")
    log_p = log_softmax(logits, axis=1)
    scores = []
    for part in np.array_split(log_p, min(splits, logits.shape[0])):
        log_py = logsumexp(part, axis=0) - np.log(part.shape[0])
        kl = (np.exp(part) * (part - log_py[None, :])).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


def ic_lpips(fake_to_real: np.ndarray, fake_to_fake: np.ndarray) -> tuple[float, int]:
    """IC-LPIPS from LPIPS distances: (score, number of clusters with >= 2 members); higher = more diverse.

    ``fake_to_real`` (F, R): distance of each generated image to each real shot (the cluster centres);
    ``fake_to_fake`` (F, F): distances among generated images. Clusters with one member are skipped.
    """
    fake_to_real, fake_to_fake = np.asarray(fake_to_real, float), np.asarray(fake_to_fake, float)
    n = fake_to_real.shape[0] if fake_to_real.ndim == 2 else -1
    if n < 2 or fake_to_fake.shape != (n, n):
        raise ValueError(
            f"need fake_to_real (F, R) and fake_to_fake (F, F) with F >= 2, got "
            f"{fake_to_real.shape} and {fake_to_fake.shape}."
        )
    assignment = fake_to_real.argmin(axis=1)
    means = []
    for cluster in np.unique(assignment):
        members = np.flatnonzero(assignment == cluster)
        if members.size < 2:
            continue
        block = fake_to_fake[np.ix_(members, members)]
        means.append(block[np.triu_indices(members.size, k=1)].mean())
    if not means:
        raise ValueError(
            "IC-LPIPS is undefined: every cluster has a single generated image; generate more images."
        )
    return float(np.mean(means)), len(means)


__all__ = [
    "METRICS",
    "fid",
    "frechet_distance",
    "gaussian_stats",
    "ic_lpips",
    "inception_score",
    "kid",
    "knn_radii",
    "precision_recall",
]
