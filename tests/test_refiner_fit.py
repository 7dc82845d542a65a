"""The SDXL refiner fine-tuned in the same fit call: its own LoRA and tokens, used by default after."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augment.cli import main
from augment.data.imageio import read_image
from augment.models.pretrained import load_backbone
from augment.synth.synthesizer import DefectSynthesizer
from tests.tiny_components import saved_tiny_pipeline

GEN = {"defect": "spot", "steps": 3, "quality_filter": False, "progress": False, "generator": 2}


@pytest.fixture(scope="module")
def fitted(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> DefectSynthesizer:
    synth = DefectSynthesizer(backbone=load_backbone(str(saved_tiny_pipeline("sdxl-inpaint"))), resolution=16)
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=1, progress=False, checkpoint_dir=checkpoints,
              refiner=str(saved_tiny_pipeline("sdxl-refiner")))  # fmt: skip
    assert (checkpoints / "refiner" / "checkpoint.pt").is_file()
    return synth


def test_refiner_learned_its_own_tokens_and_adapters(fitted: DefectSynthesizer) -> None:
    refiner = fitted.fitted_refiner
    assert refiner is not None
    assert {"<pill>", "<spot>"} <= set(refiner.tokenizer_2.get_vocab())
    lora_b = [p for n, p in refiner.unet.named_parameters() if "lora_B" in n]
    assert lora_b
    assert any(p.abs().sum() > 0 for p in lora_b)


def test_fitted_refiner_is_the_default_second_stage(fitted: DefectSynthesizer) -> None:
    refined = fitted.generate(1, **GEN)[0]
    plain = fitted.generate(1, refiner=False, **GEN)[0]
    assert refined.record["refiner"] == "fitted"
    assert "refiner" not in plain.record
    assert not np.array_equal(refined.image, plain.image)
    again = fitted.reproduce(refined.record, read_image(refined.record["source_image"]))
    np.testing.assert_array_equal(again.image, refined.image)


def test_fitted_refiner_saves_and_reloads(fitted: DefectSynthesizer, tmp_path: Path) -> None:
    fitted.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model" / "refiner").iterdir()) == ["lora", "tokens"]
    again = DefectSynthesizer.from_pretrained(tmp_path / "model")
    assert again.fingerprint() == fitted.fingerprint()
    np.testing.assert_array_equal(again.generate(1, **GEN)[0].image, fitted.generate(1, **GEN)[0].image)


def test_fit_command_takes_a_refiner(tiny_pills: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    argv = ["fit", "--data", str(tiny_pills), "--out", str(model), "--defect", "spot", "--steps", "1",
            "--batch-size", "1", "--resolution", "16", "--backbone", str(saved_tiny_pipeline("sd-inpaint")),
            "--refiner", str(saved_tiny_pipeline("sdxl-refiner"))]  # fmt: skip
    assert main(argv) == 0
    assert (model / "refiner" / "lora" / "pytorch_lora_weights.safetensors").is_file()
    argv = ["generate", "--model", str(model), "--n", "1", "--out", str(tmp_path / "bank"), "--sample-steps", "2",
            "--no-quality-filter", "--no-refiner"]  # fmt: skip
    assert main(argv) == 0
