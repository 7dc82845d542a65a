"""What a generator changed, and which of it is a visible defect: the one definition shared by the
generator's output masks, the quality filter, the evaluation and the benchmark.

Two notions, kept apart on purpose:

* a pixel **changed** when its largest channel difference from the source exceeds a noise floor
  (``Visibility.noise_floor``, 0-255 units, unsmoothed: a planted edit is found exactly);
* a pixel is part of a **visible defect** when its change is large against the source's *local
  texture*: ``z = |generated - source| / texture``, where ``texture`` is the local RMS (Gaussian
  window of ``sigma`` px) of the source's fine detail (the source minus its 1 px Gaussian blur),
  floored at ``std_floor``. Hysteresis keeps the regions above ``low`` that hold at least one pixel
  above ``high``, so on a grainy surface (sand-blasted metal, speckled pills) a change of the
  grain's own size does not count, while a faint scratch on a smooth surface does. Using the fine
  detail, not the raw local spread, keeps an object's edges from hiding defects next to them.

The generator keeps only the visible defect (``composite_visible``: the source everywhere else,
with a one-pixel soft edge) and labels ``visible | changed`` (``defect_label``), so no pixel that
changed above the noise floor is ever labelled background, and regenerated background texture is
not labelled defect. A harmonized paste (``harmonized_region``) is a real defect with its real
annotation: the re-rendered paste is kept whole and labelled with the pasted mask; around it, the
re-rendered ring's changes are held within the noise floor, so the label stays the annotation's
width (labelling the visibly changed ring made 5 px labels for 3 px cracks on KSDD).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
from scipy import ndimage

__all__ = [
    "Visibility",
    "changed_pixels",
    "changed_region",
    "check_pair",
    "composite_visible",
    "defect_label",
    "harmonized_region",
    "local_texture",
    "remove_small",
    "visible_defect",
]


@dataclass(frozen=True)
class Visibility:
    """Thresholds of the visible-defect rule (recorded with every generated pair)."""

    sigma: float = 6.0  # px: Gaussian window of the local texture statistics
    high: float = 3.0  # texture units: a visible region holds at least one pixel changed this much
    low: float = 1.5  # texture units: and grows over its connected pixels changed this much
    std_floor: float = 2.0  # 0-255 units: least texture (sensor and quantisation noise)
    noise_floor: float = 3.0  # 0-255 units: a larger channel difference is a changed pixel
    min_area: int = 4  # px: smaller visible regions are specks, not defects

    def __post_init__(self) -> None:
        if not (self.sigma > 0 and self.high >= self.low > 0):
            raise ValueError(
                f"Visibility needs sigma > 0 and high >= low > 0, got sigma={self.sigma}, "
                f"high={self.high}, low={self.low}."
            )
        if self.std_floor <= 0 or self.noise_floor < 0 or self.min_area < 1:
            raise ValueError(
                f"Visibility needs std_floor > 0, noise_floor >= 0 and min_area >= 1, got "
                f"{self.std_floor}, {self.noise_floor}, {self.min_area}."
            )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def check_pair(source: np.ndarray, generated: np.ndarray, mask: np.ndarray | None = None) -> None:
    """Raise ValueError unless both images have one HW or HWC shape (and ``mask`` their HW size)."""
    if source.shape != generated.shape or source.ndim not in (2, 3):
        raise ValueError(
            f"source and generated images must have one HW or HWC shape, got "
            f"{source.shape} and {generated.shape}."
        )
    if mask is not None and mask.shape != source.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} differs from the image size {source.shape[:2]}.")


def _gray(image: np.ndarray) -> np.ndarray:
    arr = image.astype(np.float32)
    return arr.mean(axis=2) if arr.ndim == 3 else arr


def local_texture(gray: np.ndarray, sigma: float, std_floor: float) -> np.ndarray:
    """Local RMS (Gaussian window ``sigma``) of the fine detail of ``gray``, at least ``std_floor``."""
    detail = gray - cv2.GaussianBlur(gray, (0, 0), 1.0)
    return np.sqrt(np.maximum(cv2.GaussianBlur(detail * detail, (0, 0), sigma), std_floor**2))


def changed_pixels(source: np.ndarray, generated: np.ndarray, noise_floor: float | None = None) -> np.ndarray:
    """HW bool: pixels whose largest channel difference exceeds ``noise_floor`` (default
    ``Visibility.noise_floor``)."""
    source, generated = np.asarray(source), np.asarray(generated)
    check_pair(source, generated)
    floor = Visibility.noise_floor if noise_floor is None else noise_floor
    diff = np.abs(source.astype(np.int16) - generated.astype(np.int16))
    return (diff.max(axis=2) if diff.ndim == 3 else diff) > floor


def remove_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop 8-connected components smaller than `min_area` pixels."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_area
    keep[0] = False
    return keep[labels]


def visible_defect(
    source: np.ndarray,
    generated: np.ndarray,
    region: np.ndarray | None = None,
    rule: Visibility = Visibility(),
) -> np.ndarray:
    """HW uint8 {0,1}: where ``generated`` shows a defect against ``source``'s local texture.

    Only pixels inside ``region`` (all when None) count. See the module docstring for the rule.
    """
    source, generated = np.asarray(source), np.asarray(generated)
    check_pair(source, generated, region)
    src, gen = _gray(source), _gray(generated)
    z = np.abs(gen - src) / local_texture(src, rule.sigma, rule.std_floor)
    inside = np.ones(src.shape, bool) if region is None else np.asarray(region) > 0
    candidate = (z > rule.low) & inside
    labels, n = ndimage.label(candidate, structure=np.ones((3, 3)))
    if n == 0:
        return np.zeros(src.shape, np.uint8)
    keep = np.zeros(n + 1, bool)
    keep[np.unique(labels[(z > rule.high) & candidate])] = True
    keep &= np.bincount(labels.ravel(), minlength=n + 1) >= rule.min_area
    keep[0] = False
    return keep[labels].astype(np.uint8)


def composite_visible(source: np.ndarray, generated: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """``generated`` on the visible defect, ``source`` elsewhere, blended over a one-pixel soft edge."""
    check_pair(source, generated, visible)
    edge = cv2.dilate(visible.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
    alpha = np.maximum(cv2.GaussianBlur(edge, (0, 0), 0.7), visible.astype(np.float32))
    if source.ndim == 3:
        alpha = alpha[..., None]
    mixed = source.astype(np.float32) * (1 - alpha) + generated.astype(np.float32) * alpha
    return np.rint(mixed).clip(0, 255).astype(np.uint8)


def defect_label(
    source: np.ndarray, result: np.ndarray, visible: np.ndarray, rule: Visibility = Visibility()
) -> np.ndarray:
    """HW uint8 {0,1}: the visible defect plus every pixel that changed above the noise floor."""
    return (visible.astype(bool) | changed_pixels(source, result, rule.noise_floor)).astype(np.uint8)


def changed_region(
    source: np.ndarray,
    generated: np.ndarray,
    input_mask: np.ndarray,
    rule: Visibility = Visibility(),
    grow: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(result image, label) of a generator's raw output: the visible defect near ``input_mask`` kept
    (``composite_visible``) and labelled (``defect_label``).

    The search area is the input mask dilated by ``grow`` pixels (default 0: a generator paints
    inside its mask only), so a change far from where the generator was asked to paint never
    leaks in, and a harmonized paste keeps no halo of its donor's texture.
    """
    source, generated, input_mask = np.asarray(source), np.asarray(generated), np.asarray(input_mask)
    check_pair(source, generated, input_mask)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    near = cv2.dilate((input_mask > 0).astype(np.uint8), kernel) > 0
    visible = visible_defect(source, generated, near, rule)
    result = composite_visible(source, generated, visible)
    return result, defect_label(source, result, visible, rule)


def harmonized_region(
    source: np.ndarray,
    generated: np.ndarray,
    region: np.ndarray,
    core: np.ndarray,
    rule: Visibility = Visibility(),
) -> tuple[np.ndarray, np.ndarray]:
    """(result image, label) of a harmonized paste: ``generated`` re-rendered ``region`` (the pasted
    mask ``core`` grown by a few pixels) over ``source``.

    Inside ``core`` the generated pixels are kept and labelled (the paste is a real defect; its mask
    is a real annotation, the same kind as the test labels a detector is scored on). Elsewhere in
    ``region`` the change is clipped to the noise floor, however visible it was, so the ring that
    only helped the edges fit stays background, the label keeps the annotation's width, and no
    pixel changed above the floor is left unlabelled. Outside ``region`` the source is kept bit
    for bit.
    """
    source, generated, region, core = map(np.asarray, (source, generated, region, core))
    check_pair(source, generated, region)
    check_pair(source, generated, core)
    inside = region > 0
    defect = core > 0
    src, gen = source.astype(np.int16), generated.astype(np.int16)
    floor = int(np.floor(rule.noise_floor))
    held = src + np.clip(gen - src, -floor, floor)
    per_pixel = (lambda m: m[..., None]) if source.ndim == 3 else (lambda m: m)
    result = np.where(per_pixel(defect), gen, np.where(per_pixel(inside), held, src))
    result = result.clip(0, 255).astype(np.uint8)
    return result, defect_label(source, result, defect, rule)
