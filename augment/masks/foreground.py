"""Object-versus-background masks, so that no synthetic defect is placed off the product.

`estimate_foreground` separates an object (a pill, a cable) from its background by its colour
distance to the border; textured surfaces that fill the frame (KSDD) have no separable object, and
the whole image is then foreground. `loader_foreground` is the coarse, memoised variant for data
loaders; `ForegroundCache` holds one estimate per source image of a generate call.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import cv2
import numpy as np

from augment.masks.threshold import otsu_threshold

logger = logging.getLogger(__name__)

# An image has a distinct object only when all of these hold (tuned on the demo pills, MVTec pill
# and cable, which pass, and KSDD commutator textures, which fail): Otsu separability (between-class
# / total variance), object-minus-background distance in background standard deviations, and the
# object's share of the image.
MIN_SEPARABILITY = 0.65
MIN_CONTRAST = 2.5
MIN_FOREGROUND_FRACTION = 0.05
MAX_FOREGROUND_FRACTION = 0.95
RIM_LEVEL = 0.5
ANALYSIS_SIDE = 160  # the estimate runs on a copy at most this many pixels on its longer side
# An object that covers more than this share of the image border is a texture, not an object.
MAX_BORDER_FRACTION = 0.2
# The data-loader path (`loader_foreground`) estimates the foreground on a copy this many pixels
# on its longer side, and shrinks it by one pixel there, so pasted defects stay on the object
# despite the coarse grid.
BANK_FOREGROUND_SIDE = 64
FOREGROUND_CACHE_SIZE = 4096  # memoised coarse foregrounds per process (4 KB each at 64 px)


def _border_distance(image: np.ndarray) -> np.ndarray:
    """Smoothed per-pixel colour distance to the median border colour, as float32."""
    data = image.astype(np.float32)
    if data.ndim == 2:
        data = data[..., None]
    border = np.concatenate([data[0], data[-1], data[:, 0], data[:, -1]], axis=0)
    diff = data - np.median(border, axis=0).astype(np.float32)
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))  # norm over channels; np.linalg.norm is slower
    sigma = max(1.0, min(image.shape[:2]) / 64)
    return cv2.GaussianBlur(dist, (0, 0), sigma)


def _otsu(values: np.ndarray) -> tuple[float, float]:
    """Otsu threshold of a float map and its separability in [0, 1] (between / total variance).

    The threshold is the shared `augment.masks.threshold.otsu_threshold`; only the separability,
    which decides whether the image has a distinct object at all, is computed here.
    """
    level = otsu_threshold(values, bins=256)
    flat = np.asarray(values, dtype=np.float64).ravel()
    high = flat >= level
    if high.all() or not high.any():
        return float(flat.max()), 0.0
    w1 = float(high.mean())
    between = w1 * (1.0 - w1) * (flat[high].mean() - flat[~high].mean()) ** 2
    total = float(flat.var())
    return level, between / total if total > 0 else 0.0


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected labels of a boolean mask (0 = off) and each label's pixel count (OpenCV: fast)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats[:, cv2.CC_STAT_AREA]


def _select(labels: np.ndarray, keep: np.ndarray, count: int) -> np.ndarray:
    """Pixels whose label is among `keep` (a lookup table, not `np.isin`), background excluded."""
    table = np.zeros(count, dtype=bool)
    table[keep] = True
    table[0] = False
    return table[labels]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (all False if it is empty)."""
    labels, sizes = _components(mask)
    if len(sizes) < 2:
        return np.zeros(mask.shape, dtype=bool)
    return labels == (int(np.argmax(sizes[1:])) + 1)


def _touches_border(mask: np.ndarray) -> np.ndarray:
    """Components of a boolean mask that reach the image border."""
    labels, sizes = _components(mask)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return _select(labels, edge, len(sizes))


def _object_mask(dist: np.ndarray, level: float) -> np.ndarray:
    """Hysteresis: the object grows from the Otsu core into shaded rims down to ``RIM_LEVEL`` of it."""
    core = largest_component(~_touches_border(dist <= level))
    labels, sizes = _components(dist > level * RIM_LEVEL)
    return _select(labels, labels[core], len(sizes)) | core


def _is_distinct_object(dist: np.ndarray, mask: np.ndarray, separability: float) -> bool:
    """Whether ``mask`` is an object standing out from its background (else logged, and False)."""
    if mask.any() and not mask.all():
        background = dist[~mask]
        contrast = float((dist[mask].mean() - background.mean()) / (background.std() + 1e-6))
    else:
        contrast = 0.0
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    fraction, on_border = float(mask.mean()), float(border.mean())
    if (
        separability < MIN_SEPARABILITY
        or contrast < MIN_CONTRAST
        or on_border > MAX_BORDER_FRACTION
        or not MIN_FOREGROUND_FRACTION <= fraction <= MAX_FOREGROUND_FRACTION
    ):
        logger.info(
            "no separable object (Otsu separability %.2f, contrast %.1f, object fraction %.2f, "
            "on border %.2f): using the whole image as foreground",
            separability,
            contrast,
            fraction,
            on_border,
        )
        return False
    return True


def _close_and_fill(mask: np.ndarray) -> np.ndarray:
    """Morphological closing (a disk 1/32 of the shorter side) and every enclosed hole filled."""
    radius = max(1, min(mask.shape) // 32)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    padded = cv2.copyMakeBorder(
        mask.astype(np.uint8), radius, radius, radius, radius, cv2.BORDER_CONSTANT, value=0
    )
    closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, disk)[radius:-radius, radius:-radius] > 0
    return closed | ~_touches_border(~closed)


def estimate_foreground(image: np.ndarray, analysis_side: int = ANALYSIS_SIDE) -> np.ndarray:
    """Object-versus-background mask of an image (HW bool).

    Otsu on the smoothed colour distance to the border colour; the background is what is close to
    that colour and connected to the border, the object the largest remaining component (so holes
    and enclosed parts count as object). When no object separates from its background (a texture
    filling the frame, a blank image), every pixel is foreground and a note is logged. The estimate
    runs on a copy at most `analysis_side` px on its longer side (64 is enough for placing pasted
    defects in a data loader) and is upsampled back.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 4:
        raise ValueError(
            f"estimate_foreground expects an HW or HWC image of at least 4x4 px, got shape {image.shape}."
        )
    full_shape = image.shape[:2]
    if analysis_side < 16:
        raise ValueError(f"analysis_side must be at least 16 px, got {analysis_side}.")
    factor = analysis_side / max(full_shape)
    if factor < 1:
        size = (max(4, round(full_shape[1] * factor)), max(4, round(full_shape[0] * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    dist = _border_distance(image)
    level, separability = _otsu(dist)
    mask = _object_mask(dist, level)
    if not _is_distinct_object(dist, mask, separability):
        return np.ones(full_shape, dtype=bool)
    filled = _close_and_fill(mask)
    if filled.shape != full_shape:
        filled = cv2.resize(filled.astype(np.uint8), full_shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    return filled


def loader_foreground(image: np.ndarray, cache: dict[bytes, np.ndarray] | None = None) -> np.ndarray:
    """A cheap, conservative, coarse foreground for placing pasted defects in a data loader.

    `estimate_foreground` on a copy at most `BANK_FOREGROUND_SIDE` px on its longer side, eroded
    by one pixel there (HW bool at that small size; `paste_patch` reads it at scaled
    coordinates): about 1 ms at 256 px instead of about 7. With `cache` (a dict kept by the
    caller) the estimate is memoised by a hash of a strided sample of the green channel, so an
    image seen again in a later epoch costs only that hash (an image differing from it only
    between the sampled pixels, e.g. by a small pasted defect, shares its foreground); the cache
    holds at most `FOREGROUND_CACHE_SIZE` entries.
    """
    shape = image.shape[:2]
    factor = BANK_FOREGROUND_SIDE / max(shape)
    if factor >= 1:
        return estimate_foreground(image)
    key = b""
    if cache is not None:
        step = -(-max(shape) // BANK_FOREGROUND_SIDE)  # a strided sample of one channel identifies it
        key = hashlib.blake2b(image[::step, ::step, 1].tobytes(), digest_size=16).digest()
        if key in cache:
            return cache[key]
    size = (max(16, round(shape[1] * factor)), max(16, round(shape[0] * factor)))
    small = estimate_foreground(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
    if not small.all():
        small = cv2.erode(small.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if cache is not None and FOREGROUND_CACHE_SIZE > 0:
        if len(cache) >= FOREGROUND_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = small
    return small


class ForegroundCache:
    """Foreground estimates per source index (computed once per image)."""

    def __init__(self, images: Sequence[np.ndarray]) -> None:
        self.images = images
        self._cache: dict[int, np.ndarray] = {}

    def __getitem__(self, k: int) -> np.ndarray:
        if k not in self._cache:
            self._cache[k] = np.asarray(estimate_foreground(self.images[k]), dtype=bool)
        return self._cache[k]


__all__ = ["ForegroundCache", "estimate_foreground", "largest_component", "loader_foreground"]
