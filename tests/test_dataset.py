"""The torch Dataset over index rows, in worker processes too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import DataLoader

from augment.data.dataset import DefectDataset
from augment.data.index import index_folder


def test_samples_have_documented_types(tiny_pills: Path) -> None:
    ds = DefectDataset(index_folder(tiny_pills).samples)
    item = ds[len(ds) - 1]
    assert item["image"].shape == (64, 64, 3)
    assert item["image"].dtype == np.uint8
    assert item["mask"].dtype == np.uint8
    assert set(np.unique(item["mask"])) <= {0, 1}


def test_works_with_worker_processes(tiny_pills: Path) -> None:
    index = index_folder(tiny_pills)
    loader = DataLoader(DefectDataset(index.samples), batch_size=4, num_workers=2)
    defects = [d for batch in loader for d in batch["record"]["defect"]]
    assert sorted(defects) == sorted(s.defect for s in index.samples)
    masks_of_defects = [s for s in index.samples if not s.is_good]
    assert len(masks_of_defects) == 18


def test_transform_is_applied(tiny_pills: Path) -> None:
    ds = DefectDataset(
        index_folder(tiny_pills).samples,
        transform=lambda image, mask: {"image": image[:10], "mask": mask[:10]},
    )
    assert ds[0]["image"].shape[0] == 10


def test_empty_selection_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        DefectDataset([])
