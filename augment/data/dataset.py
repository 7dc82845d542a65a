"""A thin torch Dataset over index rows: image, mask and the row's record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from augment.data.index import Sample, load_sample_arrays

Transform = Callable[..., dict[str, Any]]


class DefectDataset(Dataset):
    """Samples as ``{"image": HWC uint8, "mask": HW uint8 {0,1}, "record": dict}``.

    ``transform`` is called albumentations-style, ``transform(image=..., mask=...)``, and must
    return a dict with at least ``image`` and ``mask``. The dataset holds only paths, so it pickles
    cheaply into DataLoader workers.
    """

    def __init__(self, samples: Sequence[Sample], transform: Transform | None = None) -> None:
        if len(samples) == 0:
            raise ValueError("DefectDataset needs at least one sample; the selection given is empty.")
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        sample = self.samples[i]
        image, mask = load_sample_arrays(sample)
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = np.asarray(out["image"]), np.asarray(out["mask"])
        record = sample.to_record() | {"index": i, "source": "real"}
        return {"image": image, "mask": mask, "record": record}
