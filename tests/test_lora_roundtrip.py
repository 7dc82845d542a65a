"""LoRA + textual inversion: 2 training steps, save, reload into a stock diffusers pipeline, same images."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import (
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)
from safetensors import safe_open
from safetensors.torch import load_file

from augment.models.backbone import Backbone
from augment.models.lora import (
    LoraSettings,
    add_lora,
    load_textual_inversion_into,
    save_lora,
    save_textual_inversion,
)
from augment.models.pretrained import load_backbone
from augment.synth.synthesizer import DefectSynthesizer
from tests.tiny_components import Kind, add_test_tokens, saved_tiny_pipeline

TOKENS = ["<pill>", "<spot>"]
PROMPT = "a photo of a <pill> with a <spot>"
PIPELINES = {
    "sd": StableDiffusionPipeline,
    "sd-inpaint": StableDiffusionInpaintPipeline,
    "sdxl": StableDiffusionXLPipeline,
    "sdxl-inpaint": StableDiffusionXLInpaintPipeline,
}
SIZE = 16


def _generate(pipe: Any, inpaint: bool) -> np.ndarray:
    pipe.set_progress_bar_config(disable=True)
    kwargs: dict[str, Any] = dict(
        prompt=PROMPT,
        num_inference_steps=2,
        height=SIZE,
        width=SIZE,
        output_type="np",
        generator=torch.Generator().manual_seed(7),
    )
    if inpaint:
        image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
        mask = torch.zeros(1, 1, SIZE, SIZE)
        mask[..., 4:12, 4:12] = 1
        kwargs.update(image=image, mask_image=mask, strength=1.0)
    with torch.no_grad():
        return pipe(**kwargs).images


def _in_memory_pipeline(backbone: Backbone, cls: type) -> Any:
    parts = dict(
        unet=backbone.unet,
        vae=backbone.vae,
        text_encoder=backbone.text_encoder,
        tokenizer=backbone.tokenizer,
        scheduler=backbone.scheduler,
    )
    if backbone.family == "sdxl":
        parts.update(text_encoder_2=backbone.text_encoder_2, tokenizer_2=backbone.tokenizer_2)
    else:
        parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return cls(**parts)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(PIPELINES))
def test_saved_adapters_reload_into_stock_pipeline(kind: Kind, tiny_pills: Path, tmp_path: Path) -> None:
    """DefectSynthesizer.fit (LoRA + token rows) for 2 steps, then the files save_pretrained wrote
    give a stock pipeline the same images as the in-memory model."""
    torch.manual_seed(0)
    synth = DefectSynthesizer(backbone=load_backbone(str(saved_tiny_pipeline(kind))), resolution=SIZE)
    add_lora(synth.backbone, LoraSettings(rank=4, alpha=8, text_encoder=True))  # fit trains these
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=1, progress=False)
    backbone = synth.backbone
    assert all("lora" in n for n, p in backbone.unet.named_parameters() if p.requires_grad)
    expected = _generate(_in_memory_pipeline(backbone, PIPELINES[kind]), backbone.is_inpainting)

    synth.save_pretrained(tmp_path / "model")  # adapters and tokens only, over the base's id
    stock = PIPELINES[kind].from_pretrained(saved_tiny_pipeline(kind))
    assert load_textual_inversion_into(stock, tmp_path / "model" / "tokens") == TOKENS
    stock.load_lora_weights(tmp_path / "model" / "lora")
    reloaded = _generate(stock, backbone.is_inpainting)

    np.testing.assert_allclose(reloaded, expected, atol=1e-5)
    baseline = _generate(PIPELINES[kind].from_pretrained(saved_tiny_pipeline(kind)), backbone.is_inpainting)
    assert np.abs(baseline - expected).max() > 1e-3  # the adapters changed the images


def _refine(pipe: Any) -> np.ndarray:
    pipe.set_progress_bar_config(disable=True)
    image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return pipe(
            prompt=PROMPT, image=image, strength=0.6, num_inference_steps=3, output_type="np",
            generator=torch.Generator().manual_seed(7),
        ).images  # fmt: skip


@pytest.mark.slow
def test_fitted_refiner_reloads_into_stock_refiner_pipeline(tiny_pills: Path, tmp_path: Path) -> None:
    """fit(refiner=...) trains the refiner's own LoRA + tokens; its saved files give a stock SDXL
    refiner (img2img) pipeline the same images as the fitted refiner's models."""
    refiner_base = saved_tiny_pipeline("sdxl-refiner")
    synth = DefectSynthesizer(
        backbone=load_backbone(str(saved_tiny_pipeline("sdxl-inpaint"))), resolution=SIZE
    )
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=1, progress=False, refiner=str(refiner_base))
    refiner = synth.fitted_refiner
    parts = dict(unet=refiner.unet, vae=refiner.vae, text_encoder_2=refiner.text_encoder_2,
                 tokenizer_2=refiner.tokenizer_2, scheduler=refiner.scheduler)  # fmt: skip
    expected = _refine(StableDiffusionXLImg2ImgPipeline(
        text_encoder=None, tokenizer=None, requires_aesthetics_score=True, **parts
    ))  # fmt: skip

    synth.save_pretrained(tmp_path / "model")
    stock = StableDiffusionXLImg2ImgPipeline.from_pretrained(refiner_base)
    assert load_textual_inversion_into(stock, tmp_path / "model" / "refiner" / "tokens") == TOKENS
    stock.load_lora_weights(tmp_path / "model" / "refiner" / "lora")
    np.testing.assert_allclose(_refine(stock), expected, atol=1e-5)
    baseline = _refine(StableDiffusionXLImg2ImgPipeline.from_pretrained(refiner_base))
    assert np.abs(baseline - expected).max() > 1e-3  # the refiner's adapters and tokens changed them


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_saved_lora_keys_follow_diffusers_format(kind: Kind, tmp_path: Path) -> None:
    backbone = load_backbone(str(saved_tiny_pipeline(kind)))
    add_lora(backbone, LoraSettings(rank=4, alpha=8, text_encoder=True))
    path = save_lora(backbone, tmp_path)
    keys = load_file(str(path)).keys()
    unet = re.compile(r"^unet\..*\.(to_q|to_k|to_v|to_out\.0)\.lora\.(down|up)\.weight$")
    text = re.compile(
        r"^text_encoder(_2)?\..*\.(q_proj|k_proj|v_proj|out_proj)\.lora_linear_layer\.(down|up)\.weight$"
    )
    assert all(unet.match(key) or text.match(key) for key in keys)
    encoders = {key.split(".")[0] for key in keys} - {"unet"}
    assert encoders == ({"text_encoder", "text_encoder_2"} if kind == "sdxl" else {"text_encoder"})
    with safe_open(str(path), "pt") as handle:
        metadata = json.loads(handle.metadata()["lora_adapter_metadata"])
    assert (metadata["unet.r"], metadata["unet.lora_alpha"]) == (4, 8)


def test_textual_inversion_file_holds_one_token(tmp_path: Path) -> None:
    backbone = load_backbone(str(saved_tiny_pipeline("sd")))
    add_test_tokens(backbone, TOKENS)
    paths = save_textual_inversion(backbone, TOKENS, tmp_path)
    content = load_file(str(paths[1]))
    assert list(content) == ["<spot>"]
    assert content["<spot>"].shape == (backbone.text_encoder.config.hidden_size,)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(rank=0), "rank must be an integer >= 1"),
        (dict(alpha=-1.0), "alpha must be a positive number"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(target_modules=()), "target_modules must be a non-empty list"),
    ],
)
def test_bad_lora_settings_raise(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoraSettings(**settings)


def test_unknown_target_module_names_the_modules() -> None:
    backbone = load_backbone(str(saved_tiny_pipeline("sd")))
    with pytest.raises(ValueError, match=r"target modules \['nope'\]"):
        add_lora(backbone, LoraSettings(target_modules=("nope",)))


def test_save_without_adapter_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no LoRA adapter to save"):
        save_lora(load_backbone(str(saved_tiny_pipeline("sd"))), tmp_path)


def test_unknown_token_is_not_saved(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not in the tokenizer"):
        save_textual_inversion(load_backbone(str(saved_tiny_pipeline("sd"))), ["<nope>"], tmp_path)


def test_incompatible_peft_for_text_encoder_lora_names_both_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import version

    from transformers.integrations import peft as transformers_peft

    monkeypatch.setattr(transformers_peft, "MIN_PEFT_VERSION", "999.0", raising=False)
    expected = rf"peft >= 999.0 .*transformers {re.escape(version('transformers'))}.*peft {re.escape(version('peft'))} is installed"
    with pytest.raises(ValueError, match=expected):
        LoraSettings(text_encoder=True)
    LoraSettings(text_encoder=False)  # the UNet-only recipe needs no check
