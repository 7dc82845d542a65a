"""Few-shot split protocols, reproducibility and the saved split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from augment.data.index import index_folder
from augment.data.split import PARTS, load_split, make_split
from augment.errors import DataError


def test_first_third_takes_first_files_by_name(tiny_pills: Path) -> None:
    split = make_split(index_folder(tiny_pills))
    shots = split.shots_by_defect()
    assert {d: [s.image.name for s in rows] for d, rows in shots.items()} == {
        d: ["000.png", "001.png"] for d in ("crack", "scratch", "spot")
    }
    assert len(split.val_defects) + len(split.test_defects) == 12


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
    assert {s.split for s in split.good_val + split.good_test} == {"test"}


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
    for part in PARTS:
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
    assert (len(split.good_train), len(split.good_val) + len(split.good_test)) == (9, 3)


def _names(rows: list) -> set[str]:
    return {s.image.as_posix() for s in rows}


@pytest.mark.parametrize("shots", [None, 1, 3])
def test_no_test_image_in_validation_or_training(tiny_pills: Path, shots: int | None) -> None:
    split = make_split(index_folder(tiny_pills), shots=shots, seed=2)
    parts = [_names(split.part(p)) for p in PARTS]
    assert sum(len(p) for p in parts) == len(set().union(*parts)) == len(split.index.samples)
    assert not _names(split.test) & (_names(split.validation) | _names(split.train))
    assert not _names(split.validation) & _names(split.train)


@pytest.mark.parametrize("shots", [None, 2, 4])
def test_each_defect_type_has_validation_and_test_images(tiny_pills: Path, shots: int | None) -> None:
    split = make_split(index_folder(tiny_pills), shots=shots, seed=0)
    defects = set(split.shots_by_defect())
    assert {s.defect for s in split.val_defects} == defects
    assert {s.defect for s in split.test_defects} == defects
    assert split.good_val
    assert split.good_test


def test_validation_part_is_seeded(tiny_pills: Path) -> None:
    index = index_folder(tiny_pills)
    draws = [_names(make_split(index, seed=seed).val_defects) for seed in (0, 0, 1, 2, 3)]
    assert draws[0] == draws[1]
    assert any(d != draws[0] for d in draws[2:])


def test_validation_draw_leaves_training_images_unchanged(tiny_pills: Path) -> None:
    index = index_folder(tiny_pills)
    a, b = (
        make_split(index, shots=2, seed=4, val_fraction=0.25),
        make_split(index, shots=2, seed=4, val_fraction=0.75),
    )
    assert a.train == b.train
    assert len(a.val_defects) < len(b.val_defects)


def test_single_held_out_image_goes_to_test(tiny_pills: Path, tmp_path: Path) -> None:
    root = shutil.copytree(tiny_pills, tmp_path / "pill")
    for name in ("002", "003", "004", "005"):
        (root / "test" / "crack" / f"{name}.png").unlink()
        (root / "ground_truth" / "crack" / f"{name}_mask.png").unlink()
    split = make_split(index_folder(root, defects=["crack"]))
    assert ([s.image.name for s in split.val_defects], [s.image.name for s in split.test_defects]) == (
        [],
        ["001.png"],
    )
    with pytest.raises(DataError, match="no validation defect images"):
        split.require_validation()


def test_split_saved_without_validation_parts_still_loads(tiny_pills: Path, tmp_path: Path) -> None:
    split = make_split(index_folder(tiny_pills))
    path = split.save(tmp_path / "split.json")
    data = json.loads(path.read_text())
    for part in ("val_defects", "good_val"):
        del data[part]
    path.write_text(json.dumps(data))
    old = load_split(path)
    assert (old.val_defects, old.good_val, old.test_defects) == ([], [], split.test_defects)
    with pytest.raises(DataError, match="Make a new split"):
        old.require_validation()


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5])
def test_bad_val_fraction(tiny_pills: Path, fraction: float) -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        make_split(index_folder(tiny_pills), val_fraction=fraction)
