"""Training batches of the fit loop: windows around the few-shot defects, at the model resolution.

Most windows are around a real defect with its mask and the prompt "a photo of a <product> with a
<defect>"; some (``good_fraction``) are defect-free images with a transplanted real mask and the
product-only prompt (so the model learns what a clean surface looks like, which guidance contrasts
with); ``uncond_prob`` of the prompts are dropped to "" for classifier-free guidance. A batch is
drawn with one numpy generator only, so it is reproducible and resumable.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from augment.data.index import Sample, load_sample_arrays
from augment.data.resize import resize_image, resize_mask
from augment.data.split import FewShotSplit
from augment.models.tokens import prompt_for
from augment.synth.options import FitConfig
from augment.synth.windows import Box, jittered_box

__all__ = ["MAX_GOOD_IMAGES", "Batch", "TrainData", "good_images_of", "load_train_data", "sample_batch"]

logger = logging.getLogger(__name__)

MAX_GOOD_IMAGES = 64  # defect-free images held in memory for a fit (and painted into by default)


@dataclass
class TrainData:
    """In-memory training material: defect shots (image, mask, defect) and defect-free images."""

    product: str
    shots: list[tuple[np.ndarray, np.ndarray, str]]
    goods: list[np.ndarray]


@dataclass
class Batch:
    """One training batch: pixels, masks, prompts and each sample's defect (None: none or dropped)."""

    pixels: torch.Tensor  # (B, 3, R, R) in [-1, 1]
    mask: torch.Tensor  # (B, 1, R, R) {0, 1}
    prompts: list[str]
    defects: list[str | None]


def _window(image: np.ndarray, mask: np.ndarray, box: Box, res: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``box`` of an image and its mask, at the model resolution."""
    return resize_image(box.cut(image), res), resize_mask(box.cut(mask), res)


def _good_window(data: TrainData, cfg: FitConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A defect-free image with a real shot mask moved to a random spot of it."""
    good = data.goods[rng.integers(len(data.goods))]
    shot_mask = data.shots[rng.integers(len(data.shots))][1]
    box = jittered_box(shot_mask, cfg.resolution, cfg.context, rng)
    h, w = good.shape[:2]
    target = Box(int(rng.integers(0, h - box.side + 1)), int(rng.integers(0, w - box.side + 1)), box.side)
    img = resize_image(target.cut(good), cfg.resolution)
    return img, resize_mask(box.cut(shot_mask), cfg.resolution)


def sample_batch(data: TrainData, cfg: FitConfig, rng: np.random.Generator) -> Batch:
    """One training batch drawn with ``rng`` only (so it is reproducible and resumable)."""
    images, masks, prompts, defects = [], [], [], []
    for _ in range(cfg.batch_size):
        flip = bool(rng.random() < 0.5)
        if data.goods and rng.random() < cfg.good_fraction:
            img, msk = _good_window(data, cfg, rng)
            defect = None
        else:
            image, shot_mask, defect = data.shots[rng.integers(len(data.shots))]
            box = jittered_box(shot_mask, cfg.resolution, cfg.context, rng)
            img, msk = _window(image, shot_mask, box, cfg.resolution)
        if flip:
            img, msk = img[:, ::-1], msk[:, ::-1]
        drop = bool(rng.random() < cfg.uncond_prob)
        images.append(img)
        masks.append(msk)
        prompts.append("" if drop else prompt_for(data.product, defect))
        defects.append(None if drop else defect)
    pixels = torch.from_numpy(np.stack(images).astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)
    mask = torch.from_numpy(np.stack(masks).astype(np.float32))[:, None]
    return Batch(pixels.contiguous(), mask, prompts, defects)


def good_images_of(split: FewShotSplit) -> list[Sample]:
    """The split's defect-free training images a fit uses: the first ``MAX_GOOD_IMAGES`` (logged)."""
    goods = split.good_train[:MAX_GOOD_IMAGES]
    if len(split.good_train) > MAX_GOOD_IMAGES:
        logger.info(
            "fit uses the first %d of the split's %d defect-free training images (MAX_GOOD_IMAGES)",
            MAX_GOOD_IMAGES,
            len(split.good_train),
        )
    return goods


def load_train_data(split: FewShotSplit, defects: Sequence[str], goods: Sequence[Sample]) -> TrainData:
    """The split's shots of ``defects`` and the ``goods`` (see ``good_images_of``), loaded."""
    shots = [(*load_sample_arrays(s), s.defect) for s in split.shots if s.defect in defects]
    good_images = [load_sample_arrays(s)[0] for s in goods]
    return TrainData(split.index.products[0], shots, good_images)
