"""Few-shot split protocols, reproducibility and the saved split."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from augment.data.index import index_folder
from augment.data.split import load_split, make_split
from augment.errors import DataError


def test_first_third_takes_first_files_by_name(tiny_pills: Path) -> None:
    split = make_split(index_folder(tiny_pills))
    shots = split.shots_by_defect()
    assert {d: [s.image.name for s in rows] for d, rows in shots.items()} == {
        d: ["000.png", "001.png"] for d in ("crack", "scratch", "spot")
    }
    assert len(split.test_defects) == 12


def test_first_third_keeps_at_least_one_shot(tiny_pills: Path, tmp_path: Path) -> None:
    root = shutil.copytree(tiny_pills, tmp_path / "pill")
    for name in ("001", "002", "003", "004", "005"):
        (root / "test" / "crack" / f"{name}.png").unlink()
        (root / "ground_truth" / "crack" / f"{name}_mask.png").unlink()
    split = make_split(index_folder(root, defects=["crack"]))
    assert [s.image.name for s in split.shots] == ["000.png"]
    assert split.test_defects == []


def test_mvtec_good_images_keep_folder_split(tiny_pills: Path) -> None:
    split = make_split(index_folder(tiny_pills))
    assert {s.split for s in split.good_train} == {"train"}
    assert {s.split for s in split.good_test} == {"test"}


def test_k_shots_are_seeded(tiny_pills: Path) -> None:
    index = index_folder(tiny_pills)
    names = [[s.image.name for s in make_split(index, shots=3, seed=seed).shots] for seed in (0, 0, 1)]
    assert names[0] == names[1]
    assert names[0] != names[2]
    assert len(names[0]) == 9


@pytest.mark.parametrize(
    ("shots", "message"), [(7, r"only 6 images"), (0, "positive integer"), (-1, "positive integer")]
)
def test_bad_shots(tiny_pills: Path, shots: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_split(index_folder(tiny_pills), shots=shots)


def test_save_and_reload_gives_same_split(tiny_pills: Path, tmp_path: Path) -> None:
    split = make_split(index_folder(tiny_pills), shots=2, seed=5)
    again = load_split(split.save(tmp_path / "split.json"))
    for part in ("shots", "test_defects", "good_train", "good_test"):
        assert again.part(part) == split.part(part)
    assert (again.protocol, again.seed) == ("shots=2", 5)


def test_reload_refuses_changed_dataset(tiny_pills: Path, tmp_path: Path) -> None:
    root = shutil.copytree(tiny_pills, tmp_path / "pill")
    saved = make_split(index_folder(root)).save(tmp_path / "split.json")
    (root / "train" / "good" / "000.png").unlink()
    with pytest.raises(DataError, match="changed since the split"):
        load_split(saved)


def test_generic_good_images_split_with_seed(tmp_path: Path, tiny_pills: Path) -> None:
    root = tmp_path / "widget"
    shutil.copytree(tiny_pills / "train" / "good", root / "good")
    shutil.copytree(tiny_pills / "test" / "crack", root / "crack")
    for m in (tiny_pills / "ground_truth" / "crack").iterdir():
        shutil.copy(m, root / "crack" / m.name)
    split = make_split(index_folder(root), seed=1, good_test_fraction=0.25)
    assert (len(split.good_train), len(split.good_test)) == (9, 3)
