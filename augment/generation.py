"""Generation helpers: per-pair seeds, input checks, mask sources and the quality-filtered loop.

Every pair gets its own integer seed, drawn from the caller's generator; the source image choice,
the mask and the diffusion noise all derive from that seed alone, so a record's seed (with its
source image and settings) reproduces the pair exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

SeedSource = int | np.random.Generator | torch.Generator | None


def seed_stream(generator: SeedSource) -> np.random.Generator:
    """A numpy generator for per-pair seeds from an int, numpy or torch generator (None: fresh entropy)."""
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, torch.Generator):
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))
    if generator is None or isinstance(generator, (int, np.integer)):
        return np.random.default_rng(generator)
    raise TypeError(
        f"generator must be an int seed, np.random.Generator or torch.Generator, "
        f"got {type(generator).__name__}."
    )


def check_images(images: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """A list of HWC uint8 RGB images (one array is a list of one)."""
    items = [images] if isinstance(images, np.ndarray) else list(images)
    if not items:
        raise ValueError(
            "images is empty; pass at least one defect-free HWC uint8 image, or None to use "
            "the fitted defect-free images."
        )
    for i, img in enumerate(items):
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise TypeError(
                f"images[{i}] must be an HWC uint8 RGB array, got "
                f"{getattr(img, 'shape', type(img))} {getattr(img, 'dtype', '')}."
            )
    return items


def check_masks(masks: Sequence[np.ndarray] | np.ndarray, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """HW {0,1} masks matching the images one to one (one mask is used for every image)."""
    items = [masks] if isinstance(masks, np.ndarray) else list(masks)
    if len(items) == 1 and len(images) > 1:
        items = items * len(images)
    if len(items) != len(images):
        raise ValueError(
            f"got {len(items)} masks for {len(images)} images; pass one mask per image "
            "or a single mask for all."
        )
    out = []
    for i, (mask, img) in enumerate(zip(items, images, strict=True)):
        mask = np.asarray(mask)
        if mask.shape != img.shape[:2]:
            raise ValueError(
                f"mask {i} has size {mask.shape} but its image is {img.shape[:2]}; "
                "resize the mask to the image (nearest neighbour)."
            )
        if not mask.any():
            raise ValueError(
                f"mask {i} is empty (no defect pixel); give a mask with the region to paint, "
                "or masks=None to sample one."
            )
        out.append((mask > 0).astype(np.uint8))
    return out
