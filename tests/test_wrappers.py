"""Dataset wrappers in DataLoaders: ratio, distinct samples across workers, reproducibility."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import DataLoader

from augment.data.dataset import DefectDataset
from augment.data.demo_data import render_pill
from augment.data.index import index_folder
from augment.data.pairs import read_manifest
from augment.loaders.paste_bank import build_paste_bank
from augment.loaders.sources import open_source
from augment.loaders.wrappers import MixedDefectDataset, SyntheticDefectDataset, seed_worker
from augment.masks.foreground import estimate_foreground


@pytest.fixture(scope="module")
def bank(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_paste_bank(tiny_pills, tmp_path_factory.mktemp("bank"), per_shot=2))


@pytest.fixture(scope="module")
def goods(tiny_pills: Path) -> DefectDataset:
    return DefectDataset([s for s in index_folder(tiny_pills).samples if s.is_good])


def _collect(dataset, workers: int) -> list[dict]:
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, worker_init_fn=seed_worker)
    return list(loader)


def test_mixed_loader_with_two_workers_gives_the_ratio_and_distinct_defects(bank: str, goods) -> None:
    mixed = MixedDefectDataset(goods, synthetic_ratio=0.5, source=bank, seed=1)
    items = _collect(mixed, workers=2)
    synthetic = [it for it in items if it["record"]["source"] == "synthetic"]
    assert len(items) == len(goods)
    assert len(synthetic) == round(0.5 * len(goods))
    assert all(it["mask"].sum() > 0 for it in synthetic)
    masks = {np.asarray(it["mask"]).tobytes() for it in synthetic}
    assert len(masks) == len(synthetic)


def test_mixed_samples_do_not_depend_on_the_worker_count(bank: str, goods) -> None:
    mixed = MixedDefectDataset(goods, synthetic_ratio=0.5, source=bank, seed=1)
    one, two = _collect(mixed, workers=0), _collect(mixed, workers=2)
    assert all(np.array_equal(a["image"], b["image"]) for a, b in zip(one, two, strict=True))


def test_a_new_epoch_draws_new_defects(bank: str, goods) -> None:
    mixed = MixedDefectDataset(goods, synthetic_ratio=1.0, source=bank, seed=1)
    first = mixed[0]["mask"]
    mixed.set_epoch(1)
    assert not np.array_equal(first, mixed[0]["mask"])


def test_wrappers_pickle(bank: str, goods) -> None:
    mixed = MixedDefectDataset(goods, synthetic_ratio=0.3, source=bank, seed=2)
    clone = pickle.loads(pickle.dumps(mixed))
    assert np.array_equal(clone[3]["image"], mixed[3]["image"])


def test_synthetic_dataset_from_a_bank_and_onto_images(bank: str, goods) -> None:
    stored = SyntheticDefectDataset(bank)
    assert len(stored) == len(read_manifest(bank)) > 0
    onto = SyntheticDefectDataset(bank, images=[s.image for s in goods.samples], defects=["crack"], seed=0)
    item = onto[0]
    assert item["record"]["defect"] == "crack"
    assert item["mask"].sum() > 0


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_mixed_refuses_a_ratio_outside_0_1(bank: str, goods, ratio: float) -> None:
    with pytest.raises(ValueError, match="synthetic_ratio is the share"):
        MixedDefectDataset(goods, synthetic_ratio=ratio, source=bank)


def test_bank_defects_land_on_the_object_of_a_larger_image(bank: str) -> None:
    image, _ = render_pill(5, 192, None)
    full_foreground = estimate_foreground(image)  # full-resolution estimate, not the loader's coarse one
    source = open_source(bank)
    for seed in range(6):
        pair = source.make(image, source.defects[seed % len(source.defects)], 1.0, seed)
        assert pair is not None
        assert pair.mask.any()
        assert full_foreground[pair.mask > 0].all()
