"""SDXL refiner as an optional second generation stage, applied only inside the defect mask.

After the first stage has painted a defect, the refiner runs a low-strength img2img pass
(``strength`` 0.3 by default: the last 30% of the noise schedule) on the same window and the
result is composited back inside the mask only, through ``augment.synth.sampling.inpaint``: every
pixel outside the mask stays bit for bit the first stage's (and so the source image's). A stock
refiner never saw the placeholder tokens, so it gets the plain-word prompt "a photo of a pill with
a scratch" and "a photo of a pill" as the negative. ``fit(..., refiner=...)`` fine-tunes the
refiner in the same call (``fit_refiner``): its own LoRA and token rows (second text encoder), on
the same training windows; a fitted refiner gets the token prompts and is used by default.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from augment.files import CHECKPOINT
from augment.models.backbone import Backbone
from augment.models.lora import LoraSettings
from augment.models.pretrained import is_refiner, load_refiner
from augment.models.tokens import add_placeholder_tokens, placeholder, prompt_for
from augment.synth.batches import TrainData
from augment.synth.fit import train
from augment.synth.options import FitConfig
from augment.synth.resume import begin_run
from augment.synth.sampling import SampleConfig, inpaint

__all__ = [
    "DEFAULT_REFINER_STRENGTH",
    "FITTED_REFINER",
    "RefinerCache",
    "check_refiner_strength",
    "fit_refiner",
    "refine_in_mask",
    "resolve_refiner",
]

FITTED_REFINER = "fitted"  # what a pair's record names the refiner fitted with the synthesizer

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
    """Low-strength img2img of ``image`` (HWC uint8) by ``refiner`` inside ``mask`` only (token
    prompts when the refiner learned the tokens, plain words otherwise)."""
    if placeholder(defect) in refiner.text_pairs[0][0].get_vocab():
        prompt, negative = prompt_for(product, defect), prompt_for(product, None)
    else:
        prompt, negative = f"a photo of a {product} with a {defect}", f"a photo of a {product}"
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


def fit_refiner(
    refiner: Backbone,
    data: TrainData,
    cfg: FitConfig,
    names: list[str],
    run: dict,
    checkpoint_dir: Path | None,
    resume: bool,
    progress: bool,
    lora: LoraSettings | None,
) -> list[float]:
    """Fine-tune ``refiner`` (LoRA + the tokens ``names`` on its text encoder) on the fit's windows.

    Its checkpoints go to ``checkpoint_dir`` (the base fit's ``refiner/``), its run description is
    the base's with the refiner as backbone; a resumed fit starts the refiner afresh when the
    interruption came before its first checkpoint.
    """
    token_ids = add_placeholder_tokens(*refiner.text_pairs[0], names)
    run = run | {"backbone": f"refiner:{refiner.source}"}
    resume = resume and checkpoint_dir is not None and (checkpoint_dir / CHECKPOINT).is_file()
    begin_run(checkpoint_dir, run, resume)
    return train(refiner, data, cfg, token_ids, checkpoint_dir, resume, progress, None, lora)
