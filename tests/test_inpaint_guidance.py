"""Inpainting with double-free guidance, custom / negative prompts, and text2img's threshold choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from augment.cli import main
from augment.data.imageio import read_image
from augment.data.pairs import read_manifest
from augment.models.tokens import prompt_for
from augment.synth.sampling import SampleConfig, inpaint
from augment.synth.synthesizer import DefectSynthesizer

TINY = {"resolution": 16, "channels": (8, 16, 16)}
GEN = {"defect": "spot", "steps": 3, "quality_filter": False, "progress": False, "generator": 4}


@pytest.fixture(scope="module")
def fitted(tiny_pills: Path) -> DefectSynthesizer:
    synth = DefectSynthesizer(**TINY)
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=2, progress=False)
    return synth


@pytest.fixture(scope="module")
def source() -> tuple[np.ndarray, np.ndarray]:
    image = np.random.default_rng(0).integers(60, 200, (40, 40, 3), dtype=np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 12:26] = 1
    return image, mask


def test_classic_guidance_is_double_free_with_complementary_scales(
    fitted: DefectSynthesizer, source: tuple[np.ndarray, np.ndarray]
) -> None:
    """scale s with the product prompt as negative = w_product 1 - s, w_defect s (DefectDiffu's form)."""
    image, mask = source
    defect, product = prompt_for("pill", "spot"), prompt_for("pill", None)
    s = 2.5
    classic = inpaint(fitted.backbone, image, mask, defect, product, SampleConfig(3, 1.0, s, 16),
                      torch.Generator().manual_seed(0))  # fmt: skip
    cfg = SampleConfig(3, 1.0, 1.0, 16, w_product=1.0 - s, w_defect=s)
    double = inpaint(
        fitted.backbone, image, mask, defect, "", cfg, torch.Generator().manual_seed(0), None, product
    )
    assert np.abs(classic.astype(int) - double.astype(int)).max() <= 1
    stronger = inpaint(fitted.backbone, image, mask, defect, "", SampleConfig(3, 1.0, 1.0, 16, w_product=1.0,
                       w_defect=6.0), torch.Generator().manual_seed(0), None, product)  # fmt: skip
    assert not np.array_equal(stronger, double)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"w_defect": 4.0},
        {"w_product": 0.5, "w_defect": 3.0, "negative_prompt": "a photo"},
        {"prompt": "a photo of a <pill> with a <spot> <spot>"},
        {"negative_prompt": "a photo of a good <pill>", "guidance": 3.0},  # used only with guidance
    ],
    ids=["w-defect", "both-scales", "prompt", "negative"],
)
def test_prompting_is_recorded_and_reproduced(fitted: DefectSynthesizer, kwargs: dict) -> None:
    plain = fitted.generate(1, **GEN, guidance=kwargs.get("guidance", 1.0))[0]
    pair = fitted.generate(1, **GEN, **kwargs)[0]
    assert not np.array_equal(pair.image, plain.image)
    record = pair.record
    for key, value in kwargs.items():
        assert record[key] == value
    if "w_defect" in kwargs:
        assert record["w_product"] == kwargs.get("w_product", 1.0)
        assert record["negative_prompt"] == kwargs.get("negative_prompt", "")  # the null branch
    again = fitted.reproduce(record, read_image(record["source_image"]))
    np.testing.assert_array_equal(again.image, pair.image)


def test_text2img_takes_the_threshold_and_prompts(fitted: DefectSynthesizer) -> None:
    kw = {"defect": "spot", "steps": 2, "generator": 0, "mode": "text2img", "max_attempts": 20}
    pair = fitted.generate(1, threshold="iterative", negative_prompt="a photo", **kw)[0]
    assert (pair.record["threshold"], pair.record["negative_prompt"]) == ("iterative", "a photo")
    with pytest.raises(ValueError, match=r"the token <spot> is not in the encoded prompt"):
        fitted.generate(1, prompt="a photo of a <pill>", **kw)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": "iterative"}, "threshold= applies to mode='text2img'"),
        ({"threshold": "mean", "mode": "text2img"}, r"threshold must be one of \['otsu', 'iterative'\]"),
        ({"w_defect": float("nan")}, "w_defect must be a finite number"),
        ({"prompt": 3}, "prompt must be a string"),
    ],
)
def test_bad_prompting_is_refused(fitted: DefectSynthesizer, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fitted.generate(1, **(GEN | kwargs))


def test_generate_command_takes_prompting_flags(
    fitted: DefectSynthesizer, tiny_pills: Path, tmp_path: Path
) -> None:
    fitted.save_pretrained(tmp_path / "model")
    argv = ["generate", "--model", str(tmp_path / "model"), "--n", "1", "--out", str(tmp_path / "bank"),
            "--sample-steps", "2", "--no-quality-filter", "--w-defect", "3", "--w-product", "0.5",
            "--prompt", "a photo of a <pill> with a big <spot>", "--negative-prompt", "a photo"]  # fmt: skip
    assert main(argv) == 0
    (record,) = read_manifest(tmp_path / "bank")
    assert (record["w_product"], record["w_defect"]) == (0.5, 3.0)
    assert (record["prompt"], record["negative_prompt"]) == (
        "a photo of a <pill> with a big <spot>",
        "a photo",
    )
