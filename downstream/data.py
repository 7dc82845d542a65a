"""Training and test data of the benchmark: images resized once, held in memory, augmented per step.

Every image of a run is resized (``augment.data.resize``) to one model input size (the longer side to ``resolution``, both
sides rounded to a multiple of 32 for the UNet), so a batch stacks without padding. Training sets
are small (few shots, a few hundred defect-free images), so they live in memory as uint8 arrays;
augmentation runs in the main process with the transform's own seed (albumentations repeats the
same augmentations in every DataLoader worker, see PITFALLS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

SIZE_MULTIPLE = 32
MEAN, STD = 0.5, 0.25  # images are scaled to [0, 1], then standardised with these constants


def target_size(shape: tuple[int, ...], resolution: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """(height, width) with the longer side near ``resolution``, aspect kept, sides multiples of 32."""
    if not isinstance(resolution, int) or resolution < multiple:
        raise ValueError(f"resolution must be an integer >= {multiple}, got {resolution!r}.")
    h, w = shape[:2]
    scale = resolution / max(h, w)
    return (
        max(multiple, round(h * scale / multiple) * multiple),
        max(multiple, round(w * scale / multiple) * multiple),
    )


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """NHWC (or HWC) uint8 -> NCHW (or CHW) standardised float32."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).sub_(MEAN).div_(STD)
    return x.permute(0, 3, 1, 2) if x.ndim == 4 else x.permute(2, 0, 1)


def train_augmentation(seed: int, crop: tuple[int, int] | None = None) -> A.Compose:
    """Optional crop, flips and mild photometric jitter; geometric ops move image and mask together.

    ``crop=(h, w)`` trains on windows (several times cheaper than whole images on a CPU); a window
    of a defect image always holds some of its defect, one of a defect-free image is random.
    """
    ops: list[A.BasicTransform] = []
    if crop is not None:
        ops.append(A.CropNonEmptyMaskIfExists(height=crop[0], width=crop[1]))
    ops += [
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5),
    ]
    return A.Compose(ops, seed=seed)


@dataclass
class Item:
    """One training or test image at model input size, with its defect type (``good`` if none).

    ``extra``: an arm's added item (synthetic, pasted, procedural) rather than a real image; the
    trainer keeps the real defect items' share of the draws (``sampling_weights``).
    """

    image: np.ndarray
    mask: np.ndarray
    defect: str
    source: str
    extra: bool = False


class SegmentationSet(Dataset):
    """In-memory items as ``{"image": CHW float, "mask": 1HW float}``, augmented when a transform is set."""

    def __init__(self, items: Sequence[Item], transform: A.Compose | None = None) -> None:
        if len(items) == 0:
            raise ValueError("SegmentationSet needs at least one item; the training set given is empty.")
        shapes = {it.image.shape for it in items}
        if len(shapes) != 1:
            raise ValueError(
                f"all items must share one size to be batched, got {sorted(shapes)}; "
                "resize them with augment.data.resize to one target_size first."
            )
        self.items = list(items)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def is_defect(self) -> list[bool]:
        return [bool(it.mask.any()) for it in self.items]

    def is_extra(self) -> list[bool]:
        return [it.extra for it in self.items]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image, mask = self.items[i].image, self.items[i].mask
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        return {"image": to_tensor(image), "mask": torch.from_numpy(np.ascontiguousarray(mask)).float()[None]}


__all__ = [
    "Item",
    "SegmentationSet",
    "target_size",
    "to_tensor",
    "train_augmentation",
]
