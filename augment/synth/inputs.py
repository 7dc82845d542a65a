"""What one generate call is given, checked and loaded: counts, images, masks and per-pair seeds.

Every pair gets its own integer seed, drawn from the caller's generator; the source image choice,
the mask and the diffusion noise all derive from that seed alone, so a record's seed (with its
source image and settings) reproduces the pair exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from augment.data.imageio import read_image
from augment.errors import DataError
from augment.masks.geometry import DEFAULT_MAX_ROTATION, check_rotation
from augment.masks.sampler import MaskSampler, parse_mask_source

__all__ = [
    "DEFAULT_STRENGTH",
    "MODES",
    "SeedSource",
    "SourcePlan",
    "check_generate_counts",
    "check_images",
    "check_masks",
    "check_mode_args",
    "harmonize_shots",
    "load_sources",
    "plan_sources",
    "seed_stream",
]

SeedSource = int | np.random.Generator | torch.Generator | None
MODES = ("inpaint", "harmonize", "text2img")
# Strength a mode runs at when none is given: inpainting paints from pure noise; harmonize re-noises
# a pasted real defect lightly. Chosen on KSDD validation cracks (KID x1e3 of Poisson-cloned pastes
# re-noised to 0.1 / 0.2: 35.4 / 43.6; feathered pastes at 0.2 / 0.35 / 0.5: 63.2 / 67.3 / 72.0):
# the embedded model's re-render loses the surface grain, so the less of it the better.
DEFAULT_STRENGTH = {"inpaint": 1.0, "harmonize": 0.1, "text2img": 1.0}


def harmonize_shots(
    shots: list[tuple[np.ndarray, np.ndarray]], defect: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The fitted shots harmonize pastes (ValueError when there are none)."""
    if not shots:
        raise ValueError(
            f"harmonize pastes the fitted shots of {defect!r}, but this synthesizer holds none; "
            "fit it on data with that defect type, or use mode='inpaint'."
        )
    return shots


def check_mode_args(
    mode: str, masks: object, refiner: object, mask_quality: bool, product: str | None, fitted: Sequence[str]
) -> None:
    """Refuse argument combinations ``generate``'s ``mode`` cannot honour (ValueError naming the fix)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}.")
    if mode != "inpaint" and refiner is not None and refiner is not False:
        raise ValueError(f"refiner= applies to mode='inpaint' only; drop it for {mode}.")
    if mode == "harmonize" and masks is not None:
        raise ValueError("mode='harmonize' pastes the shots' own masks; drop masks= or use mode='inpaint'.")
    if mode != "text2img" and mask_quality:
        raise ValueError("mask_quality= applies to mode='text2img' (its masks come from attention).")
    if product is not None and fitted and product not in fitted:
        known = f"product {fitted[0]!r}" if len(fitted) == 1 else f"products {list(fitted)}"
        raise ValueError(
            f"this synthesizer was fitted on {known}, not {product!r}; fit it on {product!r} too "
            f"(one folder holding every product), or fit one on {product!r}."
        )


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


def check_generate_counts(n: int, strength: float, steps: int) -> None:
    """Validate ``generate``'s pair count, strength and step count (ValueError saying what is expected)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}.")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must lie in [0, 1] (0 returns the source image), got {strength}.")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")


def load_sources(
    images: Sequence[np.ndarray | str | Path] | np.ndarray | None,
    good_images: Sequence[str],
    bit_depth: int | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """The defect-free images to paint into, with their names: ``images`` (arrays or paths) when
    given, else the fitted ``good_images`` paths, which must all still exist. Paths are read with
    ``bit_depth`` (the fitted data's, for 16-bit files)."""
    if images is not None:
        listed = [images] if isinstance(images, (np.ndarray, str, Path)) else list(images)
        names = [str(x) if isinstance(x, (str, Path)) else f"array[{i}]" for i, x in enumerate(listed)]
        loaded = [read_image(x, bit_depth) if isinstance(x, (str, Path)) else x for x in listed]
        return check_images(loaded), names
    paths = good_images
    missing = [p for p in paths if not Path(p).is_file()]
    if not paths or missing:
        raise DataError(
            f"the fitted defect-free images are not available ({len(missing)} of {len(paths)} "
            "missing); pass images=[...] with defect-free images to paint into."
        )
    return [read_image(p, bit_depth) for p in paths], list(paths)


@dataclass
class SourcePlan:
    """One inpaint call's defect-free images, their names, and where each pair's mask comes from:
    ``given`` masks (one per image) or ``sampler`` (real masks rotated within +-``mask_rotation``)."""

    images: list[np.ndarray]
    names: list[str]
    given: list[np.ndarray] | None
    sampler: MaskSampler
    mask_rotation: float = DEFAULT_MAX_ROTATION


def plan_sources(
    images: Sequence[np.ndarray | str | Path] | np.ndarray | None,
    masks: Sequence[np.ndarray] | np.ndarray | None,
    mask_source: str,
    good_images: Sequence[str],
    shot_masks: Sequence[np.ndarray],
    mask_rotation: float = DEFAULT_MAX_ROTATION,
    defect: str = "",
    bit_depth: int | None = None,
) -> SourcePlan:
    """Load and check ``generate``'s images and masks; 'real' mask sampling draws on ``shot_masks``
    rotated within +-``mask_rotation`` degrees; image paths are read with ``bit_depth``."""
    mask_rotation = check_rotation(mask_rotation)
    sources, names = load_sources(images, good_images, bit_depth)
    given = check_masks(masks, sources) if masks is not None else None
    sampler = (
        MaskSampler(parse_mask_source(mask_source), None)
        if given is not None
        else MaskSampler.create(mask_source, shot_masks, mask_rotation, defect)
    )
    return SourcePlan(sources, names, given, sampler, mask_rotation)
