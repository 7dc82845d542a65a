"""Reading images of every mode/bit depth, and the stated mask binarisation rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.data.imageio import binarize_mask, read_image, read_mask
from augment.errors import DataError


@pytest.mark.parametrize(
    ("array", "suffix"),
    [
        (np.full((5, 7), 200, np.uint8), ".png"),
        (np.full((5, 7, 3), 200, np.uint8), ".jpg"),
        (np.dstack([np.full((5, 7, 3), 200, np.uint8), np.full((5, 7), 255, np.uint8)]), ".png"),
        (np.full((5, 7), 200 * 257, np.uint16), ".png"),
        (np.full((5, 7, 3), 200, np.uint8), ".bmp"),
        (np.full((5, 7, 3), 200, np.uint8), ".tiff"),
    ],
    ids=["gray", "rgb-jpeg", "rgba", "gray16", "bmp", "tiff"],
)
def test_read_image_gives_hwc_uint8_rgb(tmp_path: Path, array: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"im{suffix}"
    Image.fromarray(array).save(path)
    out = read_image(path)
    assert out.shape == (5, 7, 3)
    assert out.dtype == np.uint8
    assert abs(int(out.mean()) - 200) <= 2


def test_rgba_alpha_is_composited_over_black(tmp_path: Path) -> None:
    rgba = np.dstack([np.full((2, 2, 3), 255, np.uint8), np.array([[0, 255], [255, 255]], np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png")[0, 0].tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    "values",
    [
        np.array([[0, 1], [1, 0]]),
        np.array([[0, 255], [255, 0]]),
        np.array([[3, 250], [252, 1]]),
        np.array([[0, 65535], [65535, 0]]),
    ],
    ids=["0-1", "0-255", "jpeg-noise", "16-bit"],
)
def test_binarize_rule(values: np.ndarray) -> None:
    dtype = np.uint16 if values.max() > 255 else np.uint8
    assert binarize_mask(values.astype(dtype)).tolist() == [[0, 1], [1, 0]]


def test_colour_mask_uses_channel_maximum() -> None:
    mask = np.zeros((2, 2, 3), np.uint8)
    mask[0, 0, 2] = 255
    assert binarize_mask(mask).tolist() == [[1, 0], [0, 0]]


def test_grey_mask_is_refused() -> None:
    ramp = np.tile(np.arange(0, 256, dtype=np.uint8), (4, 1))
    with pytest.raises(DataError, match="not binary"):
        binarize_mask(ramp, source="ramp.png")


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read image .*broken\.png"):
        read_mask(bad)
