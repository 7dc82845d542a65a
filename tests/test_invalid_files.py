"""Every invalid file of a dataset reported in one go, grouped with its fix; --skip-invalid goes on
without them and lists them in the index, the split file and the command output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment import cli
from augment.data.index import index_folder
from augment.data.split import load_split, make_split
from augment.errors import DataError, InvalidFilesError
from tests.mixed_data import BROKEN, add_invalid_files, mixed_dataset


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    product = mixed_dataset(tmp_path_factory.mktemp("broken"))
    add_invalid_files(product)
    return product


def test_every_invalid_file_is_reported_at_once(broken: Path) -> None:
    with pytest.raises(InvalidFilesError) as info:
        index_folder(broken)
    message = str(info.value)
    assert message.startswith(f"7 invalid files in {broken} (pass skip_invalid=True")
    for reason, names in BROKEN.items():
        assert f"  {reason} ({len(names)}): " in message
        for name in names:
            assert name in message


@pytest.mark.parametrize(
    ("reason", "fix"),
    [
        ("empty mask", "Draw the defect in the mask, or move the image to the 'good' folder."),
        ("mask size mismatch", "Resize the mask to the image with nearest-neighbour interpolation."),
        ("missing mask", "Add the mask"),
        ("unreadable image", "Replace each file with a readable copy or remove it"),
    ],
)
def test_each_group_says_its_fix(broken: Path, reason: str, fix: str) -> None:
    with pytest.raises(InvalidFilesError, match=f"{reason} \\(\\d\\): {fix}"):
        index_folder(broken)


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("truncated.png", "image file is truncated"),
        ("empty.png", r"empty \(0 bytes\)"),
        ("notes.png", "cannot identify"),
    ],
)
def test_unreadable_files_say_why(broken: Path, name: str, detail: str) -> None:
    with pytest.raises(InvalidFilesError, match=f"cannot read image .*{name}: .*{detail}"):
        index_folder(broken)


def test_skip_invalid_leaves_them_out_and_lists_them(broken: Path) -> None:
    index = index_folder(broken, skip_invalid=True)
    skipped = {(i.path.relative_to(broken).as_posix(), i.reason) for i in index.invalid}
    assert skipped == {(name, reason) for reason, names in BROKEN.items() for name in names}
    used = {s.image.name for s in index.samples}
    assert used == {
        "g0.png",
        "g1.png",
        "g2.png",
        "g3.png",
        "g4.png",
        "g5.png",
        "t0.png",
        "c0.png",
        "c1.png",
        "c2.png",
    }
    assert len(index.summary()["invalid"]) == 7


def test_split_file_lists_skipped_files_and_reloads(broken: Path, tmp_path: Path) -> None:
    split = make_split(index_folder(broken, skip_invalid=True))
    path = split.save(tmp_path / "split.json")
    saved = json.loads(path.read_text())
    assert sorted(Path(r["path"]).name for r in saved["invalid"]) == sorted(
        Path(name).name for names in BROKEN.values() for name in names
    )
    assert load_split(path).shots == split.shots


def test_index_command_lists_what_it_skipped(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["index", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "7 invalid files" in err
    assert "pass --skip-invalid to go on without them" in err
    assert cli.main(["index", str(broken), "--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "skipped 7 invalid files" in out
    assert "2 empty mask, 1 mask size mismatch, 1 missing mask, 3 unreadable image" in out


def test_symlink_loop_is_an_unreadable_file(tmp_path: Path) -> None:
    product = mixed_dataset(tmp_path)
    (product / "train" / "good" / "loop.png").symlink_to("loop.png")
    with pytest.raises(InvalidFilesError, match=r"loop\.png: Too many levels of symbolic links"):
        index_folder(product)
    assert index_folder(product, skip_invalid=True).fingerprint()


def test_decompression_bomb_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    product = mixed_dataset(tmp_path)
    Image.fromarray(np.zeros((150, 150, 3), np.uint8)).save(product / "train" / "good" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 7000)  # 150 x 150 > 2 x 7000: Pillow refuses it
    with pytest.raises(
        InvalidFilesError, match=r"huge\.png: it has more pixels than Pillow opens .* Downscale"
    ):
        index_folder(product)
    assert [i.reason for i in index_folder(product, skip_invalid=True).invalid] == ["image too large"]


def test_a_single_invalid_file_is_one_line(tmp_path: Path) -> None:
    product = mixed_dataset(tmp_path)
    (product / "train" / "good" / "g0.png").write_bytes(b"")
    with pytest.raises(DataError) as info:
        index_folder(product)
    assert "\n" not in str(info.value)
    assert str(info.value).endswith("(pass skip_invalid=True to go on without it.)")
