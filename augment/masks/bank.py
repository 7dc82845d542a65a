"""`RealMaskBank`: the real few-shot masks under random scale, a small rotation jitter (defects in
inspection data keep a characteristic orientation), flips and elastic deformation, placed at a random
position where every defect pixel lies on the foreground (`augment.masks.foreground`).

Same generator state, same mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from augment.data.imageio import read_mask
from augment.masks.geometry import (
    DEFAULT_MAX_ROTATION,
    check_rotation,
    check_target,
    crop_to_content,
    elastic,
    place_inside,
    random_affine,
)

__all__ = ["RealMaskBank"]


class RealMaskBank:
    """The real few-shot defect masks, resampled under random geometry inside the foreground.

    `scale_range` is relative to each mask's own size; a mask larger than the target image is first
    scaled down to fit it (aspect kept), and the crop is shrunk further if it still cannot fit. `max_rotation` (degrees, default a 15 degree jitter) keeps the shots' orientation;
    180 allows any angle. `rotate` is the older flag and, when given, overrides it (True: 180,
    False: 0). `max_tries` bounds the retries before `sample` gives up with a ValueError.
    """

    def __init__(
        self,
        masks: Sequence[np.ndarray],
        scale_range: tuple[float, float] = (0.7, 1.3),
        rotate: bool | None = None,
        flip: bool = True,
        elastic_alpha: float = 0.1,
        max_tries: int = 30,
        max_rotation: float = DEFAULT_MAX_ROTATION,
    ) -> None:
        crops = [crop_to_content(np.asarray(m) > 0) for m in masks if np.asarray(m).any()]
        if not crops:
            raise ValueError(
                f"RealMaskBank needs at least one non-empty mask, got {len(masks)} "
                "mask(s), none with a defect pixel."
            )
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}.")
        if max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries}.")
        self.crops = [c.astype(np.uint8) for c in crops]
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.max_rotation = check_rotation(max_rotation if rotate is None else rotate)
        self.flip, self.elastic_alpha, self.max_tries = flip, elastic_alpha, max_tries

    @classmethod
    def from_files(cls, paths: Sequence[str | Path], **kwargs: object) -> RealMaskBank:
        """Build a bank from mask files (e.g. the `mask` paths of the few-shot samples)."""
        return cls([read_mask(p) for p in paths], **kwargs)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.crops)

    def _transformed(self, rng: np.random.Generator, fit: float, shape: tuple[int, ...]) -> np.ndarray:
        crop = self.crops[rng.integers(len(self.crops))]
        shrink = min(1.0, shape[0] / crop.shape[0], shape[1] / crop.shape[1])  # < 1 only if it cannot fit
        scale = float(rng.uniform(*self.scale_range)) * fit * shrink
        out = random_affine(crop, rng, scale, self.max_rotation, self.flip)
        if self.elastic_alpha > 0 and out.any():
            out = elastic(out, rng, self.elastic_alpha)
        return out

    def sample(
        self, shape: tuple[int, int], foreground: np.ndarray | None, rng: np.random.Generator
    ) -> np.ndarray:
        """A new HW uint8 {0,1} mask of `shape` lying entirely on `foreground`."""
        fg = check_target(shape, foreground)
        fit = 1.0
        for _ in range(self.max_tries):
            crop = self._transformed(rng, fit, fg.shape)
            placed = place_inside(crop, fg, rng) if crop.any() else None
            if placed is not None:
                return placed
            fit *= 0.85
        raise ValueError(
            f"no placement of a real mask fits inside the foreground "
            f"({int(fg.sum())} px of {fg.size}) after {self.max_tries} tries; "
            "lower scale_range, or check the foreground estimate."
        )
