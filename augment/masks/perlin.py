"""DRAEM-style anomalies (Zavrtanik et al., ICCV 2021): Perlin-noise masks filled with texture.

A 2-D Perlin noise at a random scale per axis (2**0..2**5 periods across the image, as DRAEM), on a
canvas rotated by a random angle, is thresholded at 0.5 and kept on the product's foreground. The
region is filled with a random crop of another image of the dataset (DRAEM takes DTD textures; a
dataset's own defect-free images need no download), jittered by a few of DRAEM's colour and
brightness augmenters, and blended with a random opacity (the paper's beta in [0.1, 1.0); its code
draws the texture's weight from (0.2, 1]). The returned mask is exact: 1 where a pixel's value
changed after blending (rounding leaves some masked pixels unchanged at low opacity: on KSDD the
masks fill 98-100 % of their outlines), 0 elsewhere; a draw that changes nothing is redrawn.

Why our own noise: Perlin noise is about 20 lines of numpy (the DRAEM code carries its own too).
The packages that offer it are unmaintained C extensions (``noise``, last release 2015),
per-point Python loops (``perlin-noise``, ``vnoise``), simplex rather than Perlin noise
(``opensimplex``), or an unofficial upload of a gist (``perlin-numpy`` 0.0.1); none is worth a
dependency. Every random draw comes from the caller's ``np.random.Generator``: same state, same
anomaly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from augment.masks.changed import changed_pixels

__all__ = [
    "JITTERS",
    "OPACITY_RANGE",
    "PERLIN_THRESHOLD",
    "blend_exact",
    "check_image",
    "perlin_anomaly",
    "perlin_mask",
    "perlin_noise",
    "texture_patch",
]

PERLIN_THRESHOLD = 0.5  # DRAEM's threshold on the noise (values about in [-1, 1])
MAX_SCALE_EXPONENT = 5  # up to 2**5 noise periods across the image (DRAEM: 2**0..2**5 at 256 px)
MIN_PERIOD = 4  # px: no finer noise period on small images
OPACITY_RANGE = (0.1, 1.0)  # the texture's weight in the blend (DRAEM's beta)
CROP_RANGE = (0.25, 1.0)  # texture crop side, as a fraction of the texture image's side
JITTER_COUNT = 3  # DRAEM applies three of its augmenters to each anomaly source
MAX_TRIES = 100


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * t * (t * (t * 6 - 15) + 10)


def perlin_noise(shape: tuple[int, int], scale: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """HW float Perlin noise with ``scale`` = (rows, columns) lattice cells across ``shape``.

    Random unit gradients at the lattice corners; any shape (no divisibility needed). Values lie
    about in [-1, 1] (the usual sqrt(2) normalisation).
    """
    (h, w), (ry, rx) = shape, scale
    angles = rng.uniform(0, 2 * np.pi, (ry + 1, rx + 1))
    grad_y, grad_x = np.sin(angles), np.cos(angles)
    y, x = np.arange(h) * (ry / h), np.arange(w) * (rx / w)
    iy, ix = y.astype(int)[:, None], x.astype(int)[None, :]
    fy, fx = (y % 1)[:, None], (x % 1)[None, :]

    def corner(dy: int, dx: int) -> np.ndarray:
        return grad_y[iy + dy, ix + dx] * (fy - dy) + grad_x[iy + dy, ix + dx] * (fx - dx)

    u, v = _fade(fx), _fade(fy)
    top = corner(0, 0) + u * (corner(0, 1) - corner(0, 0))
    bottom = corner(1, 0) + u * (corner(1, 1) - corner(1, 0))
    return np.sqrt(2) * (top + v * (bottom - top))


def _scale(side: int, rng: np.random.Generator) -> int:
    top = int(np.clip(np.floor(np.log2(max(side, 1) / MIN_PERIOD)), 0, MAX_SCALE_EXPONENT))
    return int(2 ** rng.integers(0, top + 1))


def perlin_mask(
    shape: tuple[int, int],
    rng: np.random.Generator,
    foreground: np.ndarray | None = None,
    threshold: float = PERLIN_THRESHOLD,
    rotate: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """(HW bool mask, how it was drawn): Perlin noise above ``threshold``, on ``foreground``.

    With ``rotate`` the noise is drawn on a square canvas as wide as the image's diagonal, rotated
    by a random angle in [-90, 90] degrees and cropped at its centre, so no corner is left blank.
    One draw: the mask may be empty (`perlin_anomaly` redraws).
    """
    h, w = shape
    side = int(np.ceil(np.hypot(h, w))) if rotate else 0
    canvas = (side, side) if rotate else (h, w)
    scale = (_scale(canvas[0], rng), _scale(canvas[1], rng))
    noise: np.ndarray = perlin_noise(canvas, scale, rng).astype(np.float32)
    angle = float(rng.uniform(-90, 90)) if rotate else 0.0
    if rotate:
        turn = cv2.getRotationMatrix2D(((side - 1) / 2, (side - 1) / 2), angle, 1.0)
        top, left = (side - h) // 2, (side - w) // 2
        noise = cv2.warpAffine(noise, turn, (side, side), flags=cv2.INTER_LINEAR)[
            top : top + h, left : left + w
        ]
    mask = noise > threshold
    if foreground is not None:
        mask &= np.asarray(foreground, dtype=bool)
    return mask, {"perlin_scale": list(scale), "perlin_angle": round(angle, 3)}


def _lut(image: np.ndarray, table: np.ndarray) -> np.ndarray:
    return cv2.LUT(image, np.clip(table, 0, 255).astype(np.uint8))


_LEVELS = np.arange(256, dtype=np.float32)


def _gamma(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _lut(im, 255 * (_LEVELS / 255) ** rng.uniform(0.5, 2.0))


def _brightness(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _lut(im, _LEVELS * rng.uniform(0.8, 1.2) + rng.uniform(-30, 30))


def _sharpen(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    data = im.astype(np.float32)
    sharp = data + rng.uniform(0.5, 2.0) * (data - cv2.GaussianBlur(data, (0, 0), 1.0))
    return np.rint(sharp).clip(0, 255).astype(np.uint8)


def _solarize(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    above = np.float32(rng.uniform(32, 128)) <= _LEVELS
    return _lut(im, np.where(above, 255 - _LEVELS, _LEVELS))


def _posterize(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    keep = 8 - int(rng.integers(3, 7))  # 2-5 bits kept
    return (im >> (8 - keep) << (8 - keep)).astype(np.uint8)


def _invert(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (255 - im).astype(np.uint8)


def _autocontrast(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lo, hi = float(im.min()), float(im.max())
    return im if hi <= lo else _lut(im, (_LEVELS - lo) * (255 / (hi - lo)))


def _equalize(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if im.ndim == 2:
        return cv2.equalizeHist(im)
    return np.stack([cv2.equalizeHist(np.ascontiguousarray(im[..., c])) for c in range(im.shape[2])], axis=2)


# DRAEM's anomaly-source augmenters (imgaug), less hue and rotation: colour and brightness only.
JITTERS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "gamma": _gamma,
    "brightness": _brightness,
    "sharpen": _sharpen,
    "solarize": _solarize,
    "posterize": _posterize,
    "invert": _invert,
    "autocontrast": _autocontrast,
    "equalize": _equalize,
}


def _like(image: np.ndarray, ndim: int) -> np.ndarray:
    """``image`` as gray (ndim 2) or RGB (ndim 3)."""
    if image.ndim == ndim:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if ndim == 2 else np.repeat(image[..., None], 3, axis=2)


def texture_patch(
    source: np.ndarray,
    shape: tuple[int, int],
    ndim: int,
    rng: np.random.Generator,
    jitter: int = JITTER_COUNT,
) -> tuple[np.ndarray, dict[str, Any]]:
    """(texture of ``shape``, how it was cut): a random crop of ``source``, randomly turned by a
    multiple of 90 degrees, resized to ``shape``, gray or RGB as ``ndim`` says, and passed through
    ``jitter`` distinct random `JITTERS`."""
    sh, sw = source.shape[:2]
    ch, cw = (max(1, round(side * rng.uniform(*CROP_RANGE))) for side in (sh, sw))
    top, left = int(rng.integers(0, sh - ch + 1)), int(rng.integers(0, sw - cw + 1))
    turns = int(rng.integers(4))
    crop = np.ascontiguousarray(np.rot90(source[top : top + ch, left : left + cw], turns))
    patch = _like(cv2.resize(crop, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), ndim)
    names = [str(n) for n in rng.choice(list(JITTERS), size=min(jitter, len(JITTERS)), replace=False)]
    for name in names:
        patch = JITTERS[name](patch, rng)
    return patch, {"texture_box": [left, top, cw, ch], "texture_turns": turns, "jitter": names}


def blend_exact(
    image: np.ndarray, texture: np.ndarray, mask: np.ndarray, opacity: float
) -> tuple[np.ndarray, np.ndarray]:
    """(blended image, HW uint8 {0,1} exact mask): ``texture`` at ``opacity`` over ``image`` inside
    ``mask``; the mask is where any channel's value changed, so it is a subset of ``mask``."""
    region = np.asarray(mask, dtype=bool)
    out = image.copy()
    mixed = image[region].astype(np.float32) * (1 - opacity) + texture[region].astype(np.float32) * opacity
    out[region] = np.rint(mixed).clip(0, 255).astype(np.uint8)
    return out, changed_pixels(image, out, noise_floor=0).astype(np.uint8)


def check_image(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` as an array, or ValueError unless it is gray or RGB uint8 of at least 4x4 px."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(
            f"{name} must be a gray (HW) or RGB (HW3) uint8 image, got shape {image.shape} "
            f"{image.dtype}; convert it with np.asarray(PIL.Image.open(path).convert('RGB'))."
        )
    if min(image.shape[:2]) < 4:
        raise ValueError(f"{name} must be at least 4x4 px, got {image.shape[:2]}; use a larger image.")
    return image


def perlin_anomaly(
    image: np.ndarray,
    texture_source: np.ndarray,
    rng: np.random.Generator,
    foreground: np.ndarray | None = None,
    opacity_range: tuple[float, float] = OPACITY_RANGE,
    jitter: int = JITTER_COUNT,
    max_tries: int = MAX_TRIES,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(anomalous image, exact HW uint8 mask, JSON-friendly record) of one DRAEM-style anomaly.

    ``image`` and ``texture_source`` are gray or RGB uint8 of any sizes (the result has
    ``image``'s); the mask lies on ``foreground`` (all pixels when None). Draws whose mask or
    change is empty are redrawn, at most ``max_tries`` times; then ValueError.
    """
    image, texture_source = check_image(image, "image"), check_image(texture_source, "texture_source")
    if not 0 < opacity_range[0] <= opacity_range[1] <= 1:
        raise ValueError(f"opacity_range must satisfy 0 < low <= high <= 1, got {opacity_range}.")
    shape = image.shape[:2]
    if foreground is not None and np.shape(foreground) != shape:
        raise ValueError(f"foreground shape {np.shape(foreground)} differs from the image size {shape}.")
    for attempt in range(1, max_tries + 1):
        region, info = perlin_mask(shape, rng, foreground)
        if not region.any():
            continue
        texture, cut = texture_patch(texture_source, shape, image.ndim, rng, jitter)
        opacity = float(rng.uniform(*opacity_range))
        out, mask = blend_exact(image, texture, region, opacity)
        if mask.any():
            return out, mask, info | cut | {"opacity": round(opacity, 4), "attempts": attempt}
    raise ValueError(
        f"no Perlin anomaly changed any pixel of a {shape} image in {max_tries} tries (foreground "
        f"{'all' if foreground is None else int(np.count_nonzero(foreground))} px); the foreground "
        "may be tiny, or the texture identical to the image: use another texture source or jitter > 0."
    )
