"""Extra pairs of each benchmark arm: copy-paste, procedural, bank; and their validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augment.data.index import index_folder, load_sample_arrays
from augment.data.pairs import SyntheticPair, write_pair
from augment.data.split import make_split
from augment.errors import DataError
from augment.loaders.sources import open_source
from augment.masks.foreground import estimate_foreground
from downstream.arms import check_arms, copy_paste_pairs, procedural_pairs, synthetic_pairs


@pytest.fixture(scope="module")
def shots_and_goods(tiny_pills: Path) -> tuple[list[tuple[np.ndarray, np.ndarray, str]], list[np.ndarray]]:
    split = make_split(index_folder(tiny_pills))
    shots = [(*load_sample_arrays(s), s.defect) for s in split.shots]
    goods = [load_sample_arrays(s)[0] for s in split.good_train]
    return shots, goods


def test_copy_paste_masks_lie_on_the_foreground(shots_and_goods) -> None:
    shots, goods = shots_and_goods
    pairs = copy_paste_pairs(shots, goods, {"crack": 3, "spot": 3}, seed=0)
    assert len(pairs) == 6
    for pair in pairs:
        foreground = estimate_foreground(goods[pair.record["good_index"]])
        assert pair.mask.any()
        assert not (pair.mask.astype(bool) & ~foreground).any()


def test_copy_paste_changes_pixels_where_the_mask_is(shots_and_goods) -> None:
    shots, goods = shots_and_goods
    for pair in copy_paste_pairs(shots, goods, {"crack": 3}, seed=1):
        diff = np.abs(pair.image.astype(int) - goods[pair.record["good_index"]].astype(int)).sum(axis=2)
        inside, outside = pair.mask.astype(bool), ~pair.mask.astype(bool)
        assert diff[inside].mean() > diff[outside].mean()


def test_copy_paste_is_seeded(shots_and_goods) -> None:
    shots, goods = shots_and_goods
    a, b = (copy_paste_pairs(shots, goods, {"spot": 2}, seed=5) for _ in range(2))
    assert all(
        np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask) for x, y in zip(a, b, strict=True)
    )


def test_procedural_pairs_are_darker_inside_their_mask(shots_and_goods) -> None:
    _, goods = shots_and_goods
    for pair in procedural_pairs(goods, {"crack": 2}, seed=0):
        source = goods[pair.record["good_index"]].astype(int)
        inside = pair.mask.astype(bool)
        assert (pair.image.astype(int)[inside] <= source[inside]).all()
        assert (pair.image.astype(int)[inside] < source[inside]).any()


def _bank(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    for k in range(n):
        mask = np.zeros((16, 16), np.uint8)
        mask[4:8, 4:8] = 1
        image = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        write_pair(root, SyntheticPair(image, mask, {"seed": k}), f"p{k}", "pill", "crack")
    return root


def test_bank_pairs_draw_the_asked_number(tmp_path: Path) -> None:
    source = open_source(_bank(tmp_path, 5))
    assert source.kind == "bank"
    pairs = synthetic_pairs(source, {"crack": 3}, [], seed=0)
    assert len(pairs) == 3
    assert len({p.record["name"] for p in pairs}) == 3


def test_bank_without_the_defect_type_is_refused(tmp_path: Path) -> None:
    source = open_source(_bank(tmp_path, 2))
    with pytest.raises(DataError, match="no pairs of defect type 'spot'"):
        synthetic_pairs(source, {"spot": 1}, [], seed=0)


def test_bank_fingerprint_changes_with_its_content(tmp_path: Path) -> None:
    before = open_source(_bank(tmp_path, 2)).fingerprint
    _bank(tmp_path / "other", 3)
    assert open_source(tmp_path / "other").fingerprint != before


def test_unknown_source_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither a bank"):
        open_source(tmp_path)


@pytest.mark.parametrize(
    ("arms", "synthetic", "match"),
    [
        (["real", "gan"], None, "unknown or no arms"),
        ([], None, "unknown or no arms"),
        (["real", "synthetic"], None, "needs a source"),
    ],
)
def test_bad_arms_are_refused(arms: list[str], synthetic: str | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_arms(arms, synthetic)
