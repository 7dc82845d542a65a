"""Pretrained backbones work at their native size unless told otherwise (512 SD 1.5 / 2, 1024 SDXL)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from augment.cli import main
from augment.models.backbone import Backbone
from augment.models.pretrained import load_backbone
from augment.synth.synthesizer import DefectSynthesizer
from tests.tiny_components import saved_tiny_pipeline

SD_VAE = (128, 256, 512, 512)  # four levels: one latent cell is 8 pixels


@pytest.mark.parametrize(("sample_size", "expected"), [(64, 512), (96, 768), (128, 1024), ([64, 64], 512)])
def test_native_resolution_is_sample_size_times_vae_scale(sample_size: int, expected: int) -> None:
    unet = SimpleNamespace(config=SimpleNamespace(sample_size=sample_size))
    vae = SimpleNamespace(config=SimpleNamespace(block_out_channels=SD_VAE))
    backbone = Backbone(unet=unet, scheduler=None, text_encoder=None, tokenizer=None, vae=vae, family="sd")
    assert backbone.native_resolution == expected


def test_a_pretrained_backbone_works_at_its_native_size() -> None:
    backbone = load_backbone(str(saved_tiny_pipeline("sd-inpaint")))
    assert DefectSynthesizer(backbone=backbone).config.resolution == backbone.native_resolution == 32
    assert DefectSynthesizer().config.resolution == 64  # the embedded default keeps its own


def test_fit_command_takes_the_family_size(tiny_pills: Path, tmp_path: Path) -> None:
    argv = ["fit", "--data", str(tiny_pills), "--out", str(tmp_path / "m"), "--defect", "spot", "--steps", "1",
            "--batch-size", "1", "--backbone", str(saved_tiny_pipeline("sd-inpaint"))]  # fmt: skip
    assert main(argv) == 0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["resolution"] == 32


def test_text_to_image_paints_a_whole_image_at_the_family_size(tiny_pills: Path) -> None:
    synth = DefectSynthesizer(backbone=load_backbone(str(saved_tiny_pipeline("sd"))))
    synth.fit(tiny_pills, defects=["spot"], steps=1, batch_size=1, progress=False)
    pair = synth.generate(1, defect="spot", mode="text2img", steps=2, generator=0, max_attempts=20)[0]
    assert pair.image.shape == (32, 32, 3)
    assert pair.mask.shape == (32, 32)
