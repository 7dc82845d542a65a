"""A synthesizer on a pretrained backbone saves adapters and tokens over a reference to its base."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from augment.errors import BackboneNotFoundError, DataError
from augment.models.pretrained import load_backbone
from augment.synth.synthesizer import DefectSynthesizer
from tests.tiny_components import save_tiny_pipeline, saved_tiny_pipeline

GEN = {"defect": "spot", "steps": 2, "quality_filter": False, "progress": False, "generator": 3}


def _fitted(base: Path, data: Path) -> DefectSynthesizer:
    synth = DefectSynthesizer(backbone=load_backbone(str(base)), resolution=16)
    synth.fit(data, defects=["spot"], steps=1, batch_size=1, progress=False)
    return synth


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base checkpoint of its own (the tests change it)."""
    return save_tiny_pipeline("sd-inpaint", tmp_path_factory.mktemp("base") / "sd-inpaint")


def test_folder_holds_adapters_tokens_and_the_base_reference(tiny_pills: Path, tmp_path: Path) -> None:
    synth = _fitted(saved_tiny_pipeline("sdxl-inpaint"), tiny_pills)
    synth.save_pretrained(tmp_path / "model")
    names = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert names == ["config.json", "fitted.json", "lora", "shots.safetensors", "tokens"]
    assert sorted(p.name for p in (tmp_path / "model" / "tokens").iterdir()) == [
        "<pill>.safetensors",
        "<spot>.safetensors",
    ]
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["base"]["source"] == str(saved_tiny_pipeline("sdxl-inpaint"))
    assert config["base"]["fingerprint"] == load_backbone(config["base"]["source"]).base.fingerprint
    assert config["tokens"] == ["<pill>", "<spot>"]


def test_reloaded_model_is_the_fitted_one(base: Path, tiny_pills: Path, tmp_path: Path) -> None:
    synth = _fitted(base, tiny_pills)
    synth.save_pretrained(tmp_path / "model")
    again = DefectSynthesizer.from_pretrained(tmp_path / "model")
    assert again.fingerprint() == synth.fingerprint()
    np.testing.assert_array_equal(again.generate(1, **GEN)[0].image, synth.generate(1, **GEN)[0].image)


def test_missing_base_is_named(base: Path, tiny_pills: Path, tmp_path: Path) -> None:
    moved = shutil.copytree(base, tmp_path / "base")
    _fitted(moved, tiny_pills).save_pretrained(tmp_path / "model")
    shutil.rmtree(moved)
    with pytest.raises(BackboneNotFoundError, match=r"holds adapters for the base checkpoint .*base'"):
        DefectSynthesizer.from_pretrained(tmp_path / "model")


def test_changed_base_is_refused(base: Path, tiny_pills: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(base, tmp_path / "base")
    _fitted(copy, tiny_pills).save_pretrained(tmp_path / "model")
    shutil.rmtree(copy)
    save_tiny_pipeline("sd-inpaint", copy, seed=1)  # other weights at the same place
    with pytest.raises(DataError, match=r"was fitted on weights with fingerprint \w+ .*has changed"):
        DefectSynthesizer.from_pretrained(tmp_path / "model")


def test_a_bf16_fit_reloads_to_the_same_model(base: Path, tiny_pills: Path, tmp_path: Path) -> None:
    synth = DefectSynthesizer(backbone=load_backbone(str(base), dtype=torch.bfloat16), resolution=16)
    synth.fit(tiny_pills, defects=["spot"], steps=1, batch_size=1, progress=False)
    assert {p.dtype for p in synth.backbone.unet.parameters()} == {torch.bfloat16}
    synth.save_pretrained(tmp_path / "model")
    again = DefectSynthesizer.from_pretrained(tmp_path / "model")
    assert again.backbone.base.dtype == "bf16"
    assert again.fingerprint() == synth.fingerprint()
    np.testing.assert_array_equal(again.generate(1, **GEN)[0].image, synth.generate(1, **GEN)[0].image)
