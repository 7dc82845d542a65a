"""Training batches of the fit loop: windows at the image's own scale along the few-shot defects.

Most windows hold part of a real defect (centred near a random defect pixel, so a long crack gives
many different windows) with its mask and the prompt "a photo of a <product> with a <defect>"; some
(``good_fraction``) are defect-free windows under a real shot's window mask with the product-only
prompt (so the model learns the clean surface, which guidance and the visible-defect rule contrast
with); ``uncond_prob`` of the prompts are dropped to "" for classifier-free guidance. Windows are
flipped left-right and up-down at random (defects keep their orientation class: a horizontal crack
stays horizontal). With several products, each window's prompt names its own product. The first ``prior_steps`` steps see defect-free windows only: hundreds of
defect-free images teach the surface before the few shots teach the defect. A batch is drawn with one numpy generator only, so it is reproducible and
resumable. Images smaller than a window are mirrored at their border (``augment.synth.windows``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from augment.data.index import Sample, load_sample_arrays
from augment.data.split import FewShotSplit
from augment.models.tokens import prompt_for
from augment.synth.options import FitConfig
from augment.synth.windows import defect_window, random_window

__all__ = [
    "MAX_GOOD_IMAGES",
    "Batch",
    "TrainData",
    "good_images_of",
    "is_grayscale",
    "load_train_data",
    "sample_batch",
    "sample_window",
    "shots_of",
]

logger = logging.getLogger(__name__)

MAX_GOOD_IMAGES = 64  # defect-free images held in memory for a fit (and painted into by default)


@dataclass
class TrainData:
    """In-memory training material: defect shots (image, mask, defect) and defect-free images.

    With several products, ``shot_products`` / ``good_products`` name each one's product (empty:
    all are ``product``), so each window gets its own product's token in its prompt.
    """

    product: str
    shots: list[tuple[np.ndarray, np.ndarray, str]]
    goods: list[np.ndarray]
    shot_products: list[str] = field(default_factory=list)
    good_products: list[str] = field(default_factory=list)

    def product_of(self, index: int, good: bool = False) -> str:
        """The product of shot ``index`` (of defect-free image ``index`` with ``good``)."""
        names = self.good_products if good else self.shot_products
        return names[index] if names else self.product


@dataclass
class Batch:
    """One training batch: pixels, masks, prompts and each sample's defect (None: none or dropped)."""

    pixels: torch.Tensor  # (B, 3, R, R) in [-1, 1]
    mask: torch.Tensor  # (B, 1, R, R) {0, 1}
    prompts: list[str]
    defects: list[str | None]


def sample_window(
    data: TrainData, cfg: FitConfig, rng: np.random.Generator, good_fraction: float
) -> tuple[np.ndarray, np.ndarray, str | None, str]:
    """One training window (image, mask, defect or None, product) drawn with ``rng``; a defect-free
    one with probability ``good_fraction`` (when there are defect-free images)."""
    k = int(rng.integers(len(data.shots)))
    image, shot_mask, defect = data.shots[k]
    img, msk = defect_window(image, shot_mask, cfg.resolution, rng, cfg.zoom_range)
    if data.goods and rng.random() < good_fraction:
        j = int(rng.integers(len(data.goods)))
        window = random_window(data.goods[j], cfg.resolution, rng, cfg.zoom_range)
        return window, msk, None, data.product_of(j, good=True)
    return img, msk, defect, data.product_of(k)


def sample_batch(data: TrainData, cfg: FitConfig, rng: np.random.Generator, prior: bool = False) -> Batch:
    """One training batch drawn with ``rng`` only (so it is reproducible and resumable); ``prior``:
    defect-free windows only (the surface prior of the first ``cfg.prior_steps`` steps)."""
    images, masks, prompts, defects = [], [], [], []
    for _ in range(cfg.batch_size):
        img, msk, defect, product = sample_window(data, cfg, rng, 1.0 if prior else cfg.good_fraction)
        flip_lr, flip_ud = rng.random(2) < 0.5
        if flip_lr:
            img, msk = img[:, ::-1], msk[:, ::-1]
        if flip_ud:
            img, msk = img[::-1], msk[::-1]
        drop = bool(rng.random() < cfg.uncond_prob)
        images.append(np.ascontiguousarray(img))
        masks.append(np.ascontiguousarray(msk))
        prompts.append("" if drop else prompt_for(product, defect))
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


def shots_of(split: FewShotSplit, defects: Sequence[str]) -> list[Sample]:
    """The split's shots of ``defects``: the real defect images a fit trains on."""
    return [s for s in split.shots if s.defect in defects]


def load_train_data(split: FewShotSplit, defects: Sequence[str], goods: Sequence[Sample]) -> TrainData:
    """The split's shots of ``defects`` and the ``goods`` (see ``good_images_of``), loaded."""
    chosen = shots_of(split, defects)
    shots = [(*load_sample_arrays(s), s.defect) for s in chosen]
    good_images = [load_sample_arrays(s)[0] for s in goods]
    products = [s.product for s in chosen], [s.product for s in goods]
    return TrainData(split.index.products[0], shots, good_images, *products)


def is_grayscale(data: TrainData) -> bool:
    """True when every shot and defect-free image has three equal channels (a gray product)."""
    images = [image for image, _, _ in data.shots] + list(data.goods)
    return all(bool((im[..., 0] == im[..., 1]).all() and (im[..., 1] == im[..., 2]).all()) for im in images)
