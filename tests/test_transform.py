"""DefectAugment: alignment in a pipeline, identity at p=0, serialisation, errors."""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import pytest

from augment.data.index import index_folder, load_sample_arrays
from augment.errors import DataError
from augment.loaders.paste_bank import build_paste_bank
from augment.loaders.transform import DefectAugment, union_mask


@pytest.fixture(scope="module")
def bank(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_paste_bank(tiny_pills, tmp_path_factory.mktemp("bank"), per_shot=2))


@pytest.fixture(scope="module")
def good(tiny_pills: Path) -> tuple[np.ndarray, np.ndarray]:
    sample = next(s for s in index_folder(tiny_pills).samples if s.is_good)
    return load_sample_arrays(sample)


def _run(pipeline: A.Compose, good: tuple[np.ndarray, np.ndarray]) -> dict:
    image, mask = good
    return pipeline(image=image, mask=mask)


def test_defect_mask_stays_aligned_through_geometric_transforms(bank: str, good) -> None:
    image, mask = good
    geometric = [A.HorizontalFlip(p=1), A.Rotate(limit=(30, 30), p=1)]
    with_defect = A.Compose([DefectAugment(bank, p=1, strength_range=(1, 1)), *geometric], seed=0)
    out = with_defect(image=image, mask=mask)
    plain = A.Compose(geometric, seed=0)(image=image, mask=mask)
    changed = np.abs(out["image"].astype(int) - plain["image"]).max(axis=2) > 20
    assert out["mask"].sum() > 0
    assert changed[out["mask"] > 0].mean() > 0.5


def test_p0_is_identity(bank: str, good) -> None:
    out = _run(A.Compose([DefectAugment(bank, p=0)], seed=0), good)
    assert np.array_equal(out["image"], good[0])
    assert np.array_equal(out["mask"], good[1])


def test_same_seed_same_output(bank: str, good) -> None:
    a = _run(A.Compose([DefectAugment(bank, p=1)], seed=3), good)
    b = _run(A.Compose([DefectAugment(bank, p=1)], seed=3), good)
    c = _run(A.Compose([DefectAugment(bank, p=1)], seed=4), good)
    assert np.array_equal(a["image"], b["image"])
    assert not np.array_equal(a["mask"], c["mask"])


def test_to_dict_from_dict_round_trip(bank: str, good) -> None:
    pipeline = A.Compose(
        [
            DefectAugment(bank, p=1, defects=["spot"], strength_range=(0.7, 0.9), class_map={"spot": 2}),
            A.VerticalFlip(p=0.5),
        ],
        seed=5,
    )
    restored = A.from_dict(A.to_dict(pipeline))
    restored.set_random_seed(5)
    a, b = _run(pipeline, good), _run(restored, good)
    assert np.array_equal(a["image"], b["image"])
    assert np.array_equal(a["mask"], b["mask"])
    assert set(np.unique(a["mask"])) == {0, 2}


def test_unknown_defect_type_is_refused(bank: str, good) -> None:
    with pytest.raises(DataError, match=r"defect type\(s\) \['dent'\] not in"):
        _run(A.Compose([DefectAugment(bank, p=1, defects=["dent"])]), good)


def test_class_map_must_cover_the_defects(bank: str) -> None:
    with pytest.raises(ValueError, match="class_map has no value"):
        DefectAugment(bank, defects=["spot", "crack"], class_map={"spot": 1})


def test_a_folder_that_is_no_source_is_refused(tmp_path: Path, good) -> None:
    with pytest.raises(DataError, match="neither a bank of pairs"):
        _run(A.Compose([DefectAugment(str(tmp_path), p=1)]), good)


@pytest.mark.parametrize("channels", [None, 2])
def test_union_mask_writes_the_class_value_only_on_the_defect(channels: int | None) -> None:
    shape = (8, 9) if channels is None else (8, 9, channels)
    mask = np.full(shape, 3, np.uint8)
    defect = np.zeros((8, 9), np.uint8)
    defect[2, 3] = defect[5, 6] = 1
    out = union_mask(mask, defect, 7)
    expected = mask.copy()
    expected[defect > 0] = 7
    assert out.shape == mask.shape
    assert out.dtype == mask.dtype
    assert np.array_equal(out, expected)
    assert np.all(mask == 3)
