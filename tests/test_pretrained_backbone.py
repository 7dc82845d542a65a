"""Loading pretrained checkpoints (diffusers layout) as a Backbone, on tiny random components."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from transformers import CLIPTokenizer

from augment.errors import BackboneNotFoundError
from augment.models.pretrained import is_refiner, load_backbone, load_refiner
from tests.tiny_components import Kind, saved_tiny_pipeline, tiny_pipeline

EXPECTED = {
    "sd": ("sd", False, False),
    "sd-inpaint": ("sd", True, False),
    "sdxl": ("sdxl", False, False),
    "sdxl-inpaint": ("sdxl", True, False),
    "sdxl-refiner": ("sdxl", False, True),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_loads_every_family(kind: Kind) -> None:
    backbone = load_backbone(str(saved_tiny_pipeline(kind)))
    assert (backbone.family, backbone.is_inpainting, is_refiner(backbone)) == EXPECTED[kind]
    assert backbone.vae_scale == 2
    assert backbone.latent_channels == 4


def test_loaded_unet_equals_the_saved_one() -> None:
    reference = tiny_pipeline("sdxl").unet.state_dict()
    loaded = load_backbone(str(saved_tiny_pipeline("sdxl"))).unet.state_dict()
    assert reference.keys() == loaded.keys()
    for key, value in reference.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_dtype_applies_to_models_and_sdxl_vae_stays_float32() -> None:
    backbone = load_backbone(str(saved_tiny_pipeline("sdxl")), dtype=torch.float16)
    assert backbone.unet.dtype == torch.float16
    assert backbone.text_encoder_2.dtype == torch.float16
    assert backbone.vae.dtype == torch.float32


def test_missing_folder_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(BackboneNotFoundError, match=r"Looked in the local folder .*nothing/here"):
        load_backbone(str(tmp_path / "nothing" / "here"))


def test_missing_hub_id_offline_says_so() -> None:
    with pytest.raises(BackboneNotFoundError, match="HF_HUB_OFFLINE is set, so no download was tried"):
        load_backbone("no-such-org/no-such-model")


def test_folder_without_model_index_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    with pytest.raises(BackboneNotFoundError, match="is not a diffusers pipeline folder"):
        load_backbone(str(tmp_path))


def test_near_empty_tokenizer_is_rejected(tmp_path: Path) -> None:
    folder = shutil.copytree(saved_tiny_pipeline("sd"), tmp_path / "sd")
    shutil.rmtree(folder / "tokenizer")
    CLIPTokenizer(vocab={"<|startoftext|>": 0, "<|endoftext|>": 1}, merges=[]).save_pretrained(
        folder / "tokenizer"
    )
    with pytest.raises(BackboneNotFoundError, match="has only 2 entries"):
        load_backbone(str(folder))


def test_load_refiner_rejects_a_base_model() -> None:
    with pytest.raises(ValueError, match="is not an SDXL refiner"):
        load_refiner(str(saved_tiny_pipeline("sd")))


def test_non_string_source_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="hub id or a folder path"):
        load_backbone(42)  # type: ignore[arg-type]
