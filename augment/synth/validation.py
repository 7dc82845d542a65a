"""Validation contact sheets written during a fit: each defect type inpainted once from a fixed seed.

The seed is the fit's own but the generator is fresh, so training randomness is untouched and two
runs write the same sheets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from augment.data.sheets import save_contact_sheet
from augment.models.backbone import Backbone
from augment.models.tokens import prompt_for
from augment.synth.batches import TrainData
from augment.synth.options import TrainOptions
from augment.synth.sampling import SampleConfig, inpaint

__all__ = ["validation_hook", "write_validation_sheet"]


def _validation_items(
    shots: Sequence[tuple[np.ndarray, np.ndarray, str]], goods: Sequence[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """One (source, mask, defect) per defect type: its first shot's mask on a defect-free image."""
    items, seen = [], set()
    for image, mask, defect in shots:
        if defect in seen:
            continue
        seen.add(defect)
        source = next((g for g in goods if g.shape[:2] == mask.shape), image)
        items.append((source, mask, defect))
    return items


def write_validation_sheet(
    backbone: Backbone,
    data: TrainData,
    resolution: int,
    options: TrainOptions,
    step: int,
    folder: Path,
    seed: int = 0,
) -> Path:
    """Inpaint each defect type once (fixed seed) and write ``folder/step_XXXXXX.png``."""

    cfg = SampleConfig(steps=options.validation_steps, resolution=resolution)
    was_training = backbone.unet.training
    backbone.unet.eval()
    tiles = []
    for source, mask, defect in _validation_items(data.shots, data.goods):
        prompt, negative = prompt_for(data.product, defect), prompt_for(data.product, None)
        out = inpaint(backbone, source, mask, prompt, negative, cfg, torch.Generator().manual_seed(seed))
        tiles.append((out, mask, f"step {step} {defect}"))
    backbone.unet.train(was_training)
    path = Path(folder) / f"step_{step:06d}.png"
    save_contact_sheet(path, tiles)
    return path


def validation_hook(
    backbone: Backbone,
    data: TrainData,
    resolution: int,
    options: TrainOptions,
    folder: str | Path | None,
    seed: int,
) -> Callable[[int], None] | None:
    """The fit loop's ``on_step`` hook writing a sheet every ``options.validate_every`` steps (None: off)."""
    if not options.validate_every or folder is None:
        return None
    out = Path(folder)

    def on_step(step: int) -> None:
        if step % options.validate_every == 0:
            write_validation_sheet(backbone, data, resolution, options, step, out, seed)

    return on_step
