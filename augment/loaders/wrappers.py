"""Torch datasets of synthetic defects: on their own, or mixed into an existing dataset.

Every synthetic sample is a pure function of (seed, epoch, index): whatever DataLoader worker
computes it, and however many workers there are, the same index in the same epoch gives the same
sample, and different indices give different ones. Call `set_epoch(e)` each epoch (as with
`DistributedSampler`) for new defects every epoch. The datasets hold only paths and numbers, so
they pickle cheaply into workers; the source is opened once per worker process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from augment.data.imageio import read_image
from augment.data.pairs import SyntheticPair
from augment.loaders.copy_paste import CopyPasteSource
from augment.loaders.seeds import MAKE_TRIES, first_pair, pick_defect
from augment.loaders.sources import check_defects, open_source


def seed_worker(worker_id: int) -> None:
    """`worker_init_fn` that reseeds the albumentations transforms of a worker's dataset.

    albumentations 2.0.8 copies one generator state into all workers; this gives each worker (and
    each epoch) its own seed, derived from torch's per-worker seed, so runs stay reproducible.
    (It leaves OpenCV's thread count alone: `cv2.setNumThreads` in a forked worker can deadlock
    once the parent has used OpenCV's thread pool.)
    """
    info = get_worker_info()
    if info is None:
        return
    seed = torch.initial_seed() % 2**32
    for transform in _transforms_of(info.dataset):
        transform.set_random_seed(seed)


def _transforms_of(dataset: Any, depth: int = 0) -> list[Any]:
    """Objects with `set_random_seed` reachable as `.transform` through wrapped datasets."""
    found = []
    transform = getattr(dataset, "transform", None)
    if hasattr(transform, "set_random_seed"):
        found.append(transform)
    for attr in ("base", "dataset"):
        inner = getattr(dataset, attr, None)
        if inner is not None and depth < 4:
            found += _transforms_of(inner, depth + 1)
    return found


def _record(index: int, source: str, pair: SyntheticPair | None = None) -> dict[str, Any]:
    """Collate-friendly record: fixed keys; the full generation record as JSON."""
    rec = pair.record if pair is not None else {}
    return {
        "index": index,
        "source": source,
        "defect": str(rec.get("defect", "")),
        "seed": int(rec.get("seed", -1)),
        "generation": json.dumps(rec, default=str) if rec else "",
    }


class _Synthesis:
    """Shared settings of the synthetic datasets: source path, defect choice, strength, seed, epoch."""

    def __init__(
        self,
        source: str | Path,
        defects: Sequence[str] | None,
        strength_range: tuple[float, float],
        seed: int,
    ) -> None:
        if not 0 <= strength_range[0] <= strength_range[1] <= 1:
            raise ValueError(f"strength_range must satisfy 0 <= low <= high <= 1, got {strength_range}.")
        self.source = str(source)
        self.defects = list(defects) if defects else None
        self.strength_range = (float(strength_range[0]), float(strength_range[1]))
        self.seed = int(seed)
        self.epoch = 0
        check_defects(open_source(self.source).defects, self.defects, self.source)

    def set_epoch(self, epoch: int) -> None:
        """Draw new synthetic samples for this epoch (same epoch, same samples)."""
        self.epoch = int(epoch)

    def synthesize(self, image: np.ndarray | None, index: int) -> SyntheticPair:
        """A defect in `image` (the source's own images when None), seeded by (seed, epoch, index)."""
        source = open_source(self.source)

        def attempt(seed: int) -> SyntheticPair | None:
            rng = np.random.default_rng(seed)
            defect = pick_defect(source.defects, self.defects, rng)
            return source.make(image, defect, float(rng.uniform(*self.strength_range)), seed)

        pair = first_pair(attempt, self.seed, self.epoch, index)
        if pair is not None:
            return pair
        raise RuntimeError(
            f"no synthetic defect could be placed for index {index} after {MAKE_TRIES} tries "
            "(the object may be too small for the stored defects)."
        )


class SyntheticDefectDataset(_Synthesis, Dataset):
    """Synthetic pairs as ``{"image", "mask", "record"}``.

    With `images` (paths of defect-free images) each item puts a new defect into
    ``images[index % len(images)]``; without, a bank returns its stored pairs and a synthesizer
    paints into its own fitted defect-free images. `length` defaults to the number of images
    (or of stored pairs).
    """

    def __init__(
        self,
        source: str | Path,
        images: Sequence[str | Path] | None = None,
        length: int | None = None,
        defects: Sequence[str] | None = None,
        strength_range: tuple[float, float] = (0.5, 1.0),
        seed: int = 0,
    ) -> None:
        super().__init__(source, defects, strength_range, seed)
        self.images = [str(p) for p in images] if images is not None else None
        stored = open_source(self.source)
        default = (
            len(self.images) if self.images else len(stored) if isinstance(stored, CopyPasteSource) else None
        )
        chosen = length if length is not None else default
        if chosen is None or chosen < 1:
            raise ValueError(
                f"length must be >= 1 (got {length}); give it explicitly when neither images nor "
                "a bank fix the number of samples."
            )
        self.length: int = chosen

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        source = open_source(self.source)
        if self.images is None and isinstance(source, CopyPasteSource) and self.defects is None:
            pair = source.stored(index)
        else:
            image = read_image(self.images[index % len(self.images)]) if self.images else None
            pair = self.synthesize(image, index)
        return {"image": pair.image, "mask": pair.mask, "record": _record(index, "synthetic", pair)}


class MixedDefectDataset(_Synthesis, Dataset):
    """An existing dataset with a synthetic defect added to a share `synthetic_ratio` of its samples.

    `base` returns ``{"image", "mask", ...}`` or ``(image, mask)``. Each epoch, exactly
    ``round(synthetic_ratio * len(base))`` indices (a seeded permutation) carry a defect, whose mask
    is unioned into the sample's. ``record["source"]`` says "real" or "synthetic".
    """

    def __init__(
        self,
        base: Dataset,
        synthetic_ratio: float,
        source: str | Path,
        seed: int = 0,
        defects: Sequence[str] | None = None,
        strength_range: tuple[float, float] = (0.5, 1.0),
    ) -> None:
        if not 0.0 <= synthetic_ratio <= 1.0:
            raise ValueError(
                f"synthetic_ratio is the share of samples given a synthetic defect and must lie in "
                f"[0, 1], got {synthetic_ratio}."
            )
        super().__init__(source, defects, strength_range, seed)
        self.base = base
        self.synthetic_ratio = float(synthetic_ratio)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def is_synthetic(self, index: int) -> bool:
        """Whether `index` carries a synthetic defect in the current epoch."""
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self))
        return bool(order[index] < round(self.synthetic_ratio * len(self)))

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.base[index]
        if isinstance(item, dict):
            image, mask, extra = np.asarray(item["image"]), np.asarray(item["mask"]), item.get("record", {})
        else:
            (image, mask), extra = item[:2], {}
            image, mask = np.asarray(image), np.asarray(mask)
        if mask.shape[:2] != image.shape[:2]:
            raise ValueError(
                f"sample {index} of the base dataset has a {mask.shape[1]}x{mask.shape[0]} mask for a "
                f"{image.shape[1]}x{image.shape[0]} image (width x height); the base dataset must return "
                "each image with a mask of the same size."
            )
        if not self.is_synthetic(index):
            return {"image": image, "mask": mask, "record": {**extra, **_record(index, "real")}}
        pair = self.synthesize(image, index)
        mask = np.maximum(mask, pair.mask.astype(mask.dtype))
        return {"image": pair.image, "mask": mask, "record": {**extra, **_record(index, "synthetic", pair)}}


__all__ = ["MixedDefectDataset", "SyntheticDefectDataset", "seed_worker"]
