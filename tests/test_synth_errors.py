"""Every bad input to DefectSynthesizer gets a clear message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from augment.errors import DataError
from augment.synth.synthesizer import DefectSynthesizer

GEN = {"steps": 2, "quality_filter": False, "progress": False}


@pytest.fixture(scope="module")
def fitted(tiny_pills: Path) -> DefectSynthesizer:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(tiny_pills, defects=["spot"], steps=1, batch_size=2, progress=False)
    return synth


def image(size: int = 64) -> np.ndarray:
    return np.full((size, size, 3), 128, np.uint8)


def test_unknown_defect_lists_fitted(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match=r"unknown defect type 'dent'; fitted types are \['spot'\]"):
        fitted.generate(1, defect="dent", **GEN)


def test_unknown_defect_in_fit_lists_available(tiny_pills: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown defect type\(s\) \['dent'\]; the data has"):
        DefectSynthesizer(resolution=16, channels=(8, 16, 16)).fit(tiny_pills, defects=["dent"], steps=1)


def test_mask_size_mismatch(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match=r"mask 0 has size \(32, 32\) but its image is \(64, 64\)"):
        fitted.generate(1, images=[image()], masks=[np.ones((32, 32), np.uint8)], **GEN)


def test_empty_mask(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match="mask 0 is empty"):
        fitted.generate(1, images=[image()], masks=[np.zeros((64, 64), np.uint8)], **GEN)


@pytest.mark.parametrize("n", [0, -3, 1.5])
def test_n_below_one(fitted: DefectSynthesizer, n: object) -> None:
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        fitted.generate(n, **GEN)  # type: ignore[arg-type]


def test_strength_out_of_range(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match=r"strength must lie in \[0, 1\]"):
        fitted.generate(1, strength=1.5, **GEN)


def test_not_fitted() -> None:
    with pytest.raises(ValueError, match="not fitted yet"):
        DefectSynthesizer(resolution=16, channels=(8, 16, 16)).generate(1, **GEN)


def test_folder_without_config_is_not_a_synthesizer(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not a saved synthesizer"):
        DefectSynthesizer.from_pretrained(tmp_path)


def test_folder_with_foreign_config_is_not_a_synthesizer(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel"}))
    with pytest.raises(DataError, match="expected 'DefectSynthesizer'"):
        DefectSynthesizer.from_pretrained(tmp_path)


def test_generate_for_other_product(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match="fitted on product 'pill', not 'capsule'"):
        fitted.generate(1, product="capsule", **GEN)


def test_fit_on_other_product(fitted: DefectSynthesizer, tiny_pills: Path, tmp_path: Path) -> None:
    other = shutil.copytree(tiny_pills, tmp_path / "capsule")
    with pytest.raises(ValueError, match="fitted on product 'pill' but the data is 'capsule'"):
        fitted.fit(other, steps=1)


def test_filter_failure_says_why(fitted: DefectSynthesizer) -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[20:30, 20:30] = 1
    with pytest.raises(RuntimeError, match=r"only 0 of 1 spot pairs passed the quality filter"):
        fitted.generate(
            1, images=[image()], masks=[mask], strength=0.01, steps=20, max_attempts=2, progress=False
        )


@pytest.mark.parametrize("mode", ["inpaint", "text2img"])
def test_generate_without_product_name(mode: str) -> None:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16), defects=("spot",))
    mask = np.zeros((64, 64), np.uint8)
    mask[20:30, 20:30] = 1
    sources = {"images": [image()], "masks": [mask]} if mode == "inpaint" else {}
    with pytest.raises(ValueError, match="this synthesizer has no product name; call fit"):
        synth.generate(1, mode=mode, **sources, **GEN)


def test_resume_sdxl_checkpoint_on_embedded_backbone(tiny_pills: Path, tmp_path: Path) -> None:
    kw = {"defects": ["spot"], "batch_size": 2, "progress": False, "checkpoint_dir": tmp_path}
    DefectSynthesizer(resolution=16, channels=(8, 16, 16)).fit(tiny_pills, steps=1, **kw)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    torch.save(state | {"text_encoder_2": {}}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"has a second text encoder \(SDXL\) but this 'embedded' backbone"):
        DefectSynthesizer(resolution=16, channels=(8, 16, 16)).fit(tiny_pills, steps=2, resume=True, **kw)
