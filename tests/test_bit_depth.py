"""16-bit images: one scale per dataset (or stated by the file), never guessed from one image."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.data.imageio import png_significant_bits, read_image
from augment.data.index import index_folder, load_sample_arrays
from augment.data.split import load_split, make_split
from augment.synth.inputs import load_sources


def _png16(path: Path, array: np.ndarray, sbit: int | None = None) -> Path:
    """A 16-bit grayscale PNG; with ``sbit``, an sBIT chunk stating that many significant bits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint16)).save(path)
    if sbit is not None:
        data = path.read_bytes()
        chunk = struct.pack(">I4sB", 1, b"sBIT", sbit)
        chunk += struct.pack(">I", zlib.crc32(chunk[4:]) & 0xFFFFFFFF)
        end_of_ihdr = 8 + 8 + 13 + 4
        path.write_bytes(data[:end_of_ihdr] + chunk + data[end_of_ihdr:])
    return path


def _dataset(root: Path, goods: list[np.ndarray], sbit: int | None = None) -> Path:
    """Generic layout: 16-bit defect-free images, one 8-bit defect image with its mask."""
    for k, array in enumerate(goods):
        _png16(root / "good" / f"g{k}.png", array, sbit)
    image = np.full((8, 8, 3), 100, np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 255
    (root / "dent").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / "dent" / "d0.png")
    Image.fromarray(mask).save(root / "dent" / "d0_mask.png")
    return root


def _ramp(peak: int) -> np.ndarray:
    return np.linspace(0, peak, 64).reshape(8, 8)


def test_twelve_bit_data_fills_the_range(tmp_path: Path) -> None:
    index = index_folder(_dataset(tmp_path / "tiles", [_ramp(4095), _ramp(2000)]))
    assert index.bit_depth == 12
    bright = next(s for s in index.samples if s.image.name == "g0.png")
    assert load_sample_arrays(bright)[0].max() == 255


def test_dark_sixteen_bit_images_stay_dark(tmp_path: Path) -> None:
    index = index_folder(_dataset(tmp_path / "tiles", [_ramp(60000), _ramp(255)]))
    assert index.bit_depth == 16
    dark = next(s for s in index.samples if s.image.name == "g1.png")
    assert load_sample_arrays(dark)[0].max() == 1  # 255 / 65535 of full scale


def test_one_pixel_does_not_change_the_scale_of_an_image(tmp_path: Path) -> None:
    a = np.full((8, 8), 200)
    a[0, 0] = 255
    b = a.copy()
    b[0, 0] = 256  # the old per-image rule read this image 257x darker than `a`
    index = index_folder(_dataset(tmp_path / "tiles", [a, b]))
    read = {s.image.name: load_sample_arrays(s)[0] for s in index.samples}
    assert np.array_equal(read["g0.png"][1:], read["g1.png"][1:])


def test_png_sbit_chunk_states_the_bits(tmp_path: Path) -> None:
    path = _png16(tmp_path / "a.png", _ramp(1023), sbit=10)
    assert png_significant_bits(path) == 10
    assert read_image(path).max() == 255
    index = index_folder(_dataset(tmp_path / "tiles", [_ramp(300), _ramp(1023)], sbit=10))
    assert index.bit_depth == 10


def test_a_lone_file_without_sbit_reads_as_sixteen_bit(tmp_path: Path) -> None:
    path = _png16(tmp_path / "a.png", _ramp(4095))
    assert read_image(path).max() == 16  # 4095 / 65535 * 255: no dataset, no sBIT, the file's 16 bits
    assert read_image(path, bit_depth=12).max() == 255


def test_given_bit_depth_wins_and_survives_the_split(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "tiles", [_ramp(4095), _ramp(1000)])
    index = index_folder(root, bit_depth=16)
    assert index.bit_depth == 16
    path = make_split(index).save(tmp_path / "split.json")
    assert load_split(path).index.bit_depth == 16


def test_bit_depth_out_of_range_is_refused(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "tiles", [_ramp(4095)])
    with pytest.raises(ValueError, match="bit_depth must be an integer from 8 to 16"):
        index_folder(root, bit_depth=20)


def test_generation_reads_paths_with_the_fitted_bit_depth(tmp_path: Path) -> None:
    path = _png16(tmp_path / "a.png", _ramp(4095))
    images, names = load_sources([path], [], bit_depth=12)
    assert images[0].max() == 255
    assert names == [str(path)]
