"""Where a new defect mask comes from when the caller gives none: the real shots' masks moved on
the object (`augment.masks.bank`), or a procedural shape (`augment.masks.shapes`).

``mask_source`` names it: ``"real"`` or ``"procedural:<kind>"`` (kind: blob, scratch, crack).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from augment.masks.bank import RealMaskBank
from augment.masks.geometry import DEFAULT_MAX_ROTATION
from augment.masks.shapes import PROCEDURAL_KINDS, procedural_mask

__all__ = ["MaskSampler", "parse_mask_source", "real_mask_bank"]


def parse_mask_source(name: str) -> str:
    """'real' or 'procedural:<kind>' (kind in blob, scratch, crack)."""
    kinds = [f"procedural:{k}" for k in PROCEDURAL_KINDS]
    if name != "real" and name not in kinds:
        raise ValueError(f"mask_source must be 'real' or one of {kinds}, got {name!r}.")
    return name


def real_mask_bank(
    shot_masks: Sequence[np.ndarray], max_rotation: float = DEFAULT_MAX_ROTATION, defect: str = ""
) -> RealMaskBank:
    """The fitted shots' masks of one defect type, rotated within +-``max_rotation`` degrees."""
    if not any(np.asarray(m).any() for m in shot_masks):
        raise ValueError(
            f"there is no fitted shot mask of defect type {defect!r} to sample 'real' masks from; "
            "fit that defect type, pass masks=[...], or choose mask_source='procedural:blob' "
            "(or scratch, crack)."
        )
    return RealMaskBank(list(shot_masks), max_rotation=max_rotation)


@dataclass
class MaskSampler:
    """Draws a new mask on an image's foreground from the real shots or a procedural shape."""

    source: str
    bank: RealMaskBank | None

    def __post_init__(self) -> None:
        self.source = parse_mask_source(self.source)

    @classmethod
    def create(
        cls, mask_source: str, shot_masks: Sequence[np.ndarray], max_rotation: float, defect: str
    ) -> MaskSampler:
        """A sampler for ``mask_source``; 'real' draws on ``shot_masks`` (which must hold a defect)."""
        source = parse_mask_source(mask_source)
        bank = real_mask_bank(shot_masks, max_rotation, defect) if source == "real" else None
        return cls(source, bank)

    def __call__(self, foreground: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.source == "real":
            if self.bank is None:
                raise ValueError(
                    "this 'real' MaskSampler has no bank of shot masks to draw from; build it with "
                    "MaskSampler.create(...) or pass bank=real_mask_bank(shot_masks)."
                )
            return self.bank.sample(foreground.shape, foreground, rng)
        return procedural_mask(self.source.split(":", 1)[1], foreground.shape, foreground, rng)
