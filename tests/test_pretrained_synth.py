"""DefectSynthesizer on pretrained (tiny) backbones: save/load with LoRA, and ``fit --backbone``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augment.cli import main
from augment.models.lora import LORA_WEIGHT_NAME, LoraSettings
from augment.models.pretrained import load_backbone
from augment.synth.synthesizer import DefectSynthesizer
from tests.tiny_components import Kind, saved_tiny_pipeline

GEN = {"defect": "spot", "steps": 2, "quality_filter": False, "progress": False, "generator": 5}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sdxl-inpaint"])  # SD families: see test_lora_roundtrip
def test_save_load_gives_identical_pairs(kind: Kind, tiny_pills: Path, tmp_path: Path) -> None:
    synth = DefectSynthesizer(backbone=load_backbone(str(saved_tiny_pipeline(kind))), resolution=16)
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=1, progress=False)
    synth.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "lora" / LORA_WEIGHT_NAME).is_file()
    reloaded = DefectSynthesizer.from_pretrained(tmp_path / "model")
    assert reloaded.fingerprint() == synth.fingerprint()
    a, b = synth.generate(1, **GEN)[0], reloaded.generate(1, **GEN)[0]
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)


def test_fit_command_takes_a_backbone(tiny_pills: Path, tmp_path: Path) -> None:
    argv = ["fit", "--data", str(tiny_pills), "--out", str(tmp_path / "model"), "--defect", "spot",
            "--steps", "1", "--batch-size", "1", "--resolution", "16",
            "--backbone", str(saved_tiny_pipeline("sd"))]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "model" / "lora" / LORA_WEIGHT_NAME).is_file()


def test_fit_command_reports_missing_weights(
    tiny_pills: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["fit", "--data", str(tiny_pills), "--out", str(tmp_path / "m"), "--backbone", "no-org/no-model"]
    assert main(argv) == 1
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err


def test_fit_takes_lora_settings(tiny_pills: Path) -> None:
    synth = DefectSynthesizer(backbone=load_backbone(str(saved_tiny_pipeline("sd"))), resolution=16)
    synth.fit(
        tiny_pills,
        defects=["spot"],
        steps=1,
        batch_size=1,
        progress=False,
        lora=LoraSettings(rank=4, alpha=8),
    )
    config = synth.backbone.unet.peft_config["default"]
    assert (config.r, config.lora_alpha) == (4, 8)


def test_fit_command_sets_lora_rank_alpha_dropout_and_text_encoder(tiny_pills: Path, tmp_path: Path) -> None:
    argv = ["fit", "--data", str(tiny_pills), "--out", str(tmp_path / "model"), "--defect", "spot",
            "--steps", "1", "--batch-size", "1", "--resolution", "16",
            "--backbone", str(saved_tiny_pipeline("sd")), "--lora-rank", "4", "--lora-alpha", "8",
            "--lora-dropout", "0", "--text-encoder-lora"]  # fmt: skip
    assert main(argv) == 0
    reloaded = DefectSynthesizer.from_pretrained(tmp_path / "model")
    unet = reloaded.backbone.unet.peft_config["default"]
    assert (unet.r, unet.lora_alpha, unet.lora_dropout) == (4, 8, 0.0)
    assert reloaded.backbone.text_encoder.peft_config["default"].r == 4


def test_lora_flags_without_a_backbone_are_refused(
    tiny_pills: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["fit", "--data", str(tiny_pills), "--out", str(tmp_path / "m"), "--lora-rank", "4"]
    assert main(argv) == 1
    assert "--lora-rank set the adapters of a pretrained --backbone" in capsys.readouterr().err
