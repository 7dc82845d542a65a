"""Indexing both layouts, and a clear error for every bad input."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.data.index import index_folder
from augment.errors import DataError


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _mask(h: int = 8, w: int = 8) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[2:5, 2:5] = 255
    return m


IMAGE = np.full((8, 8, 3), 128, np.uint8)


def test_mvtec_counts(tiny_pills: Path) -> None:
    index = index_folder(tiny_pills)
    assert index.layout == "mvtec"
    assert index.counts() == {"pill": {"crack": 6, "good": 18, "scratch": 6, "spot": 6}}
    assert all(s.mask is not None for s in index.samples if not s.is_good)


def test_multi_product_folder_and_product_filter(tiny_pills: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_pills, tmp_path / "pill")
    shutil.copytree(tiny_pills, tmp_path / "tablet")
    assert index_folder(tmp_path).products == ["pill", "tablet"]
    assert index_folder(tmp_path, product="tablet").products == ["tablet"]


def test_defect_filter_keeps_good(tiny_pills: Path) -> None:
    index = index_folder(tiny_pills, defects=["crack"])
    assert {s.defect for s in index.samples} == {"crack", "good"}


@pytest.mark.parametrize("style", ["beside", "masks_folder", "masks_folder_suffix"])
def test_generic_layout(tmp_path: Path, style: str) -> None:
    root = tmp_path / "widget"
    _png(root / "good" / "g1.png", IMAGE)
    _png(root / "dent" / "d1.png", IMAGE)
    mask_path = {
        "beside": root / "dent" / "d1_mask.png",
        "masks_folder": root / "dent" / "masks" / "d1.png",
        "masks_folder_suffix": root / "dent" / "masks" / "d1_mask.png",
    }[style]
    _png(mask_path, _mask())
    index = index_folder(root)
    assert index.layout == "generic"
    assert index.counts() == {"widget": {"dent": 1, "good": 1}}
    assert next(s for s in index.samples if s.defect == "dent").mask == mask_path


def test_skipped_files_are_reported(tiny_pills: Path, tmp_path: Path) -> None:
    root = shutil.copytree(tiny_pills, tmp_path / "pill")
    (root / "train" / "good" / "notes.txt").write_text("x")
    _png(root / "ground_truth" / "crack" / "999_mask.png", _mask(64, 64))
    reasons = {p.name: r for p, r in index_folder(root).skipped}
    assert reasons["notes.txt"].startswith("not an image file")
    assert reasons["999_mask.png"] == "mask with no matching image"


def _mvtec(tmp_path: Path, mask: np.ndarray | None, image: np.ndarray = IMAGE) -> Path:
    root = tmp_path / "prod"
    _png(root / "train" / "good" / "000.png", IMAGE)
    _png(root / "test" / "dent" / "000.png", image)
    if mask is not None:
        _png(root / "ground_truth" / "dent" / "000_mask.png", mask)
    return root


def _unreadable(tmp_path: Path) -> Path:
    root = _mvtec(tmp_path, _mask())
    (root / "ground_truth" / "dent" / "000_mask.png").write_bytes(b"garbage")
    return root


BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "size mismatch": (lambda p: _mvtec(p, _mask(9, 8)), r"is 8x9 but its image .* is 8x8"),
    "no mask": (lambda p: _mvtec(p, None), r"has no mask: expected .*000_mask\.png"),
    "empty mask": (
        lambda p: _mvtec(p, np.zeros((8, 8), np.uint8)),
        r"is empty .* move the image to the 'good'",
    ),
    "grey mask": (lambda p: _mvtec(p, np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))), "not binary"),
    "unreadable": (_unreadable, r"cannot read image .*000_mask\.png"),
    "neither layout": (lambda p: (p / "x").mkdir() or p / "x", "neither supported layout"),
    "missing folder": (lambda p: p / "nope", "does not exist"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_explained(tmp_path: Path, case: str) -> None:
    make, message = BAD_INPUTS[case]
    with pytest.raises(DataError, match=message):
        index_folder(make(tmp_path))


def test_unknown_defect_lists_available(tiny_pills: Path) -> None:
    with pytest.raises(DataError, match=r"\['dent'\] not found .* available: \['crack', 'scratch', 'spot'\]"):
        index_folder(tiny_pills, defects=["dent"])


def test_unknown_product_lists_available(tiny_pills: Path) -> None:
    with pytest.raises(DataError, match=r"product 'tablet' not found .* \['pill'\]"):
        index_folder(tiny_pills, product="tablet")


def test_fingerprint_changes_with_data(tiny_pills: Path, tmp_path: Path) -> None:
    root = shutil.copytree(tiny_pills, tmp_path / "pill")
    before = index_folder(root).fingerprint()
    (root / "train" / "good" / "000.png").unlink()
    assert index_folder(root).fingerprint() != before
