"""SDXL refiner as a second generation stage: low-strength img2img inside the mask only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augment.data.imageio import read_image
from augment.data.index import index_folder, load_sample_arrays
from augment.data.split import make_split
from augment.synth.synthesizer import DefectSynthesizer
from tests.tiny_components import saved_tiny_pipeline

GEN = {"defect": "spot", "steps": 4, "quality_filter": False, "progress": False}


@pytest.fixture(scope="module")
def fitted(tiny_pills: Path) -> DefectSynthesizer:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(tiny_pills, defects=["spot"], steps=1, batch_size=1, progress=False)
    return synth


@pytest.fixture(scope="module")
def source(tiny_pills: Path) -> tuple[np.ndarray, np.ndarray]:
    image = load_sample_arrays(make_split(index_folder(tiny_pills)).good_train[0])[0]
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[24:36, 24:36] = 1
    return image, mask


def test_refiner_changes_only_pixels_inside_the_mask(
    fitted: DefectSynthesizer, source: tuple[np.ndarray, np.ndarray]
) -> None:
    image, mask = source
    kw = GEN | {"images": [image], "masks": [mask], "generator": 2}
    plain = fitted.generate(1, **kw)[0]
    refined = fitted.generate(1, refiner=saved_tiny_pipeline("sdxl-refiner"), refiner_strength=0.5, **kw)[0]
    outside = mask == 0
    assert np.array_equal(refined.image[outside], image[outside])
    assert not np.array_equal(refined.image[~outside], plain.image[~outside])
    assert refined.record["refiner_strength"] == 0.5
    assert refined.record["refiner"] == str(saved_tiny_pipeline("sdxl-refiner"))


def test_refined_pair_reproduces_from_its_record(fitted: DefectSynthesizer) -> None:
    pair = fitted.generate(1, refiner=saved_tiny_pipeline("sdxl-refiner"), generator=9, **GEN)[0]
    again = fitted.reproduce(pair.record, read_image(pair.record["source_image"]))
    assert np.array_equal(again.image, pair.image)
    assert np.array_equal(again.mask, pair.mask)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"refiner_strength": 0.0}, r"refiner_strength must lie in \(0, 1\]"),
        ({"mode": "text2img"}, "applies to mode='inpaint' only"),
    ],
)
def test_bad_refiner_arguments(fitted: DefectSynthesizer, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fitted.generate(1, refiner=saved_tiny_pipeline("sdxl-refiner"), **(GEN | kwargs))


def test_a_base_model_is_not_a_refiner(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match="is not an SDXL refiner"):
        fitted.generate(1, refiner=saved_tiny_pipeline("sd"), **GEN)


def test_generate_command_takes_a_refiner(
    fitted: DefectSynthesizer, tiny_pills: Path, tmp_path: Path
) -> None:
    from augment.cli import main
    from augment.data.pairs import read_manifest

    fitted.save_pretrained(tmp_path / "model")
    argv = ["generate", "--model", str(tmp_path / "model"), "--n", "1", "--out", str(tmp_path / "bank"),
            "--data", str(tiny_pills), "--sample-steps", "2", "--no-quality-filter",
            "--refiner", str(saved_tiny_pipeline("sdxl-refiner")), "--refiner-strength", "0.5"]  # fmt: skip
    assert main(argv) == 0
    (record,) = read_manifest(tmp_path / "bank")
    assert record["refiner_strength"] == 0.5
