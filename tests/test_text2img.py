"""Text-to-image path on the embedded default: whole images with cross-attention masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augment.synth.synthesizer import DefectSynthesizer
from augment.synth.text2img import Text2ImgConfig, text_to_image

CFG = Text2ImgConfig(steps=3, resolution=16)


@pytest.fixture(scope="module")
def fitted(tiny_pills: Path) -> DefectSynthesizer:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=2, progress=False)
    return synth


def test_pairs_have_image_and_binary_mask(fitted: DefectSynthesizer) -> None:
    pairs = text_to_image(fitted.backbone, "pill", "spot", n=2, cfg=CFG, seed=1)
    assert len(pairs) == 2
    for pair in pairs:
        assert pair.image.shape == (16, 16, 3)
        assert set(np.unique(pair.mask)) <= {0, 1}
        assert 0 < pair.mask.sum() < pair.mask.size
        assert pair.record["mask_source"] == "cross-attention"


def test_same_seed_same_pair(fitted: DefectSynthesizer) -> None:
    a, b = (text_to_image(fitted.backbone, "pill", "spot", cfg=CFG, seed=3)[0] for _ in range(2))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)


def test_defect_scale_changes_the_image(fitted: DefectSynthesizer) -> None:
    weak = text_to_image(fitted.backbone, "pill", "spot", cfg=CFG, seed=3)[0]
    strong = text_to_image(fitted.backbone, "pill", "spot", cfg=Text2ImgConfig(3, 16, w_defect=8.0), seed=3)[
        0
    ]
    assert np.abs(weak.image.astype(int) - strong.image.astype(int)).max() > 0


def test_unfitted_defect_token_is_reported(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match=r"token <crack> is not in the encoded prompt"):
        text_to_image(fitted.backbone, "pill", "crack", cfg=CFG)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [(dict(steps=0), "steps must be >= 1"), (dict(resolution=4), "resolution must be >= 8")],
)
def test_bad_config_raises(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Text2ImgConfig(**kwargs)


def test_generate_mode_text2img_through_the_cli(fitted: DefectSynthesizer, tmp_path: Path) -> None:
    from augment.cli import main
    from augment.data.pairs import iter_bank, read_manifest

    fitted.save_pretrained(tmp_path / "model")
    argv = ["generate", "--model", str(tmp_path / "model"), "--n", "2", "--out", str(tmp_path / "bank"),
            "--mode", "text2img", "--sample-steps", "3", "--seed", "1"]  # fmt: skip
    assert main(argv) == 0
    records = read_manifest(tmp_path / "bank")
    assert [r["mask_source"] for r in records] == ["cross-attention"] * 2
    masks = [p.mask for p in iter_bank(tmp_path / "bank")]
    assert all(0 < m.sum() < m.size for m in masks)
    assert (tmp_path / "bank" / "contact_sheet.png").is_file()


def test_unknown_generate_mode_is_rejected(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        fitted.generate(1, defect="spot", mode="img2img", progress=False)
