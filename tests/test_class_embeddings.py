"""Class-conditioned fitting and generation: one learned class embedding per defect type (SD 1.5 setup)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from augment.cli import main
from augment.models.classes import add_class_embeddings, class_labels
from augment.models.conditioning import encode_prompt, predict_noise
from augment.models.pretrained import load_backbone
from augment.models.tokens import prompt_for
from augment.synth.synthesizer import DefectSynthesizer
from tests.tiny_components import add_test_tokens, saved_tiny_pipeline

GEN = {"steps": 2, "quality_filter": False, "progress": False, "generator": 1}
FIT = {"defects": ["spot", "crack"], "steps": 2, "batch_size": 2, "progress": False, "class_embeddings": True}


@pytest.fixture(scope="module")
def fitted(tiny_pills: Path) -> DefectSynthesizer:
    synth = DefectSynthesizer(backbone=load_backbone(str(saved_tiny_pipeline("sd-inpaint"))), resolution=16)
    synth.fit(tiny_pills, **FIT)
    return synth


def test_a_prompt_gets_the_class_of_its_defect_token(fitted: DefectSynthesizer) -> None:
    prompts = ["", prompt_for("pill", None), prompt_for("pill", "spot"), prompt_for("pill", "crack")]
    assert fitted.backbone.class_tokens == {"<spot>": 1, "<crack>": 2}
    assert class_labels(fitted.backbone, prompts).tolist() == [0, 0, 1, 2]


def test_zero_class_rows_leave_the_unet_as_it_was() -> None:
    backbone = load_backbone(str(saved_tiny_pipeline("sd")))
    add_test_tokens(backbone, ["<pill>", "<spot>"])
    x, t = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([10])
    prompt = [prompt_for("pill", "spot")]
    before = predict_noise(backbone, x, t, encode_prompt(backbone, prompt))
    add_class_embeddings(backbone, ["<spot>"])
    after = predict_noise(backbone, x, t, encode_prompt(backbone, prompt))
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_class_rows_train_with_the_lora(fitted: DefectSynthesizer) -> None:
    weight = fitted.backbone.unet.class_embedding.weight
    assert weight.shape[0] == 3
    assert weight[1:].abs().sum() > 0  # trained away from zero
    assert fitted.backbone.unet.config.num_class_embeds == 3


def test_class_conditioned_model_saves_and_reloads(fitted: DefectSynthesizer, tmp_path: Path) -> None:
    fitted.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "class_embeddings.safetensors").is_file()
    again = DefectSynthesizer.from_pretrained(tmp_path / "model")
    assert again.backbone.class_tokens == fitted.backbone.class_tokens
    assert again.fingerprint() == fitted.fingerprint()
    for defect in ("spot", "crack"):
        a, b = fitted.generate(1, defect=defect, **GEN)[0], again.generate(1, defect=defect, **GEN)[0]
        np.testing.assert_array_equal(a.image, b.image)


def test_embedded_default_takes_class_embeddings_too(tiny_pills: Path, tmp_path: Path) -> None:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(tiny_pills, **FIT)
    synth.save_pretrained(tmp_path / "model")
    again = DefectSynthesizer.from_pretrained(tmp_path / "model")
    assert again.fingerprint() == synth.fingerprint()
    a, b = synth.generate(1, defect="crack", **GEN)[0], again.generate(1, defect="crack", **GEN)[0]
    np.testing.assert_array_equal(a.image, b.image)


def test_fit_command_takes_class_embeddings(tiny_pills: Path, tmp_path: Path) -> None:
    argv = ["fit", "--data", str(tiny_pills), "--out", str(tmp_path / "m"), "--defect", "spot", "--steps", "1",
            "--batch-size", "1", "--resolution", "16", "--backbone", str(saved_tiny_pipeline("sd")),
            "--class-embeddings"]  # fmt: skip
    assert main(argv) == 0
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["class_tokens"] == ["<spot>"]
