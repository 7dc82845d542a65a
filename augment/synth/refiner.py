"""SDXL refiner as an optional second generation stage, applied only inside the defect mask.

After the first stage has painted a defect, the refiner runs a low-strength img2img pass
(``strength`` 0.3 by default: the last 30% of the noise schedule) on the same window and the
result is composited back inside the mask only, through ``augment.synth.sampling.inpaint``: every
pixel outside the mask stays bit for bit the first stage's (and so the source image's). The
refiner never saw the placeholder tokens, so it gets the plain-word prompt
"a photo of a pill with a scratch" and "a photo of a pill" as the negative.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from augment.models.backbone import Backbone
from augment.models.pretrained import is_refiner, load_refiner
from augment.synth.sampling import SampleConfig, inpaint

__all__ = [
    "DEFAULT_REFINER_STRENGTH",
    "RefinerCache",
    "check_refiner_strength",
    "refine_in_mask",
    "resolve_refiner",
]

DEFAULT_REFINER_STRENGTH = 0.3


def check_refiner_strength(strength: float) -> float:
    """A refiner strength in (0, 1] (the fraction of the schedule it re-runs)."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 < strength <= 1.0:
        raise ValueError(
            f"refiner_strength must lie in (0, 1] (the fraction of the noise schedule the refiner "
            f"re-runs; 0.3 is typical), got {strength!r}."
        )
    return float(strength)


def resolve_refiner(refiner: str | Path | Backbone) -> Backbone:
    """A refiner backbone from a hub id / local folder (loaded and checked) or a loaded Backbone."""
    if isinstance(refiner, Backbone):
        if not is_refiner(refiner):
            raise ValueError(
                f"the backbone {refiner.source!r} is not an SDXL refiner (second text encoder only); "
                "pass e.g. stabilityai/stable-diffusion-xl-refiner-1.0"
            )
        return refiner
    if not isinstance(refiner, (str, Path)):
        raise TypeError(
            f"refiner must be a hub id, a folder path or a Backbone, got {type(refiner).__name__}"
        )
    return load_refiner(str(refiner))


def refine_in_mask(
    refiner: Backbone,
    image: np.ndarray,
    mask: np.ndarray,
    product: str,
    defect: str,
    strength: float,
    cfg: SampleConfig,
    gen: torch.Generator,
) -> np.ndarray:
    """Low-strength img2img of ``image`` (HWC uint8) by ``refiner`` inside ``mask`` only."""
    prompt = f"a photo of a {product} with a {defect}"
    negative = f"a photo of a {product}"
    classic = replace(cfg, strength=strength, w_product=None, w_defect=None)
    return inpaint(refiner, image, mask, prompt, negative, classic, gen)


class RefinerCache:
    """Refiner backbones by source, each loaded once per synthesizer."""

    def __init__(self) -> None:
        self._loaded: dict[str, Backbone] = {}

    def get(self, refiner: str | Path | Backbone, strength: float) -> tuple[Backbone, float]:
        """(refiner backbone, checked strength) for a hub id, folder or loaded Backbone."""
        strength = check_refiner_strength(strength)
        if isinstance(refiner, Backbone):
            self._loaded[refiner.source] = resolve_refiner(refiner)
            return self._loaded[refiner.source], strength
        if str(refiner) not in self._loaded:
            self._loaded[str(refiner)] = resolve_refiner(refiner)
        return self._loaded[str(refiner)], strength
