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
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)
from safetensors import safe_open
from safetensors.torch import load_file

from augment.backbone import Backbone
from augment.lora import (
    LoraSettings,
    add_lora,
    load_textual_inversion_into,
    save_lora,
    save_textual_inversion,
)
from augment.pretrained import load_backbone
from tests.tiny_components import Kind, add_test_tokens, saved_tiny_pipeline

TOKENS = ["<pill>", "<scratch>"]
PROMPT = "a photo of a <pill> with a <scratch>"
PIPELINES = {
    "sd": StableDiffusionPipeline,
    "sd-inpaint": StableDiffusionInpaintPipeline,
    "sdxl": StableDiffusionXLPipeline,
    "sdxl-inpaint": StableDiffusionXLInpaintPipeline,
}
SIZE = 16


def _encode(backbone: Backbone, prompt: str) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
    def ids(tokenizer: Any) -> torch.Tensor:
        return tokenizer(
            prompt,
            padding="max_length",
            max_length=tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids

    if backbone.family == "sd":
        return backbone.text_encoder(ids(backbone.tokenizer))[0], None
    first = backbone.text_encoder(ids(backbone.tokenizer), output_hidden_states=True)
    second = backbone.text_encoder_2(ids(backbone.tokenizer_2), output_hidden_states=True)
    context = torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1)
    time_ids = torch.tensor([[SIZE, SIZE, 0, 0, SIZE, SIZE]], dtype=context.dtype)
    return context, {"text_embeds": second.text_embeds, "time_ids": time_ids}


def _fit_two_steps(backbone: Backbone, params: list[torch.nn.Parameter]) -> None:
    """Two noise-prediction steps on random latents: enough to move LoRA and token rows off their init."""
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.0)
    backbone.unet.train()
    for _ in range(2):
        latents = torch.randn(1, 4, SIZE // 2, SIZE // 2, generator=generator)
        noise = torch.randn(latents.shape, generator=generator)
        sample = backbone.scheduler.add_noise(latents, noise, torch.tensor([500]))
        if backbone.is_inpainting:
            sample = torch.cat([sample, torch.ones_like(sample[:, :1]), latents], dim=1)
        context, added = _encode(backbone, PROMPT)
        pred = backbone.unet(sample, 500, context, added_cond_kwargs=added).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for module in (backbone.unet, backbone.text_encoder, backbone.text_encoder_2):
        if module is not None:
            module.eval()


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


def _token_rows(backbone: Backbone) -> list[torch.nn.Parameter]:
    """Embedding matrices whose gradient is kept only on the new tokens' rows (textual inversion)."""
    weights = []
    for encoder in (backbone.text_encoder, backbone.text_encoder_2):
        if encoder is None:
            continue
        weight = encoder.get_input_embeddings().weight
        keep = torch.zeros(weight.shape[0], 1)
        keep[-len(TOKENS) :] = 1.0
        weight.requires_grad_(True)
        weight.register_hook(lambda grad, keep=keep: grad * keep)
        weights.append(weight)
    return weights


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(PIPELINES))
def test_saved_adapters_reload_into_stock_pipeline(kind: Kind, tmp_path: Path) -> None:
    torch.manual_seed(0)
    backbone = load_backbone(str(saved_tiny_pipeline(kind)))
    add_test_tokens(backbone, TOKENS)
    params = add_lora(backbone, LoraSettings(rank=4, alpha=8, dropout=0.1, text_encoder=True))
    _fit_two_steps(backbone, params + _token_rows(backbone))
    expected = _generate(_in_memory_pipeline(backbone, PIPELINES[kind]), backbone.is_inpainting)

    save_lora(backbone, tmp_path / "lora")
    save_textual_inversion(backbone, TOKENS, tmp_path / "tokens")
    stock = PIPELINES[kind].from_pretrained(saved_tiny_pipeline(kind))
    assert load_textual_inversion_into(stock, tmp_path / "tokens") == TOKENS
    stock.load_lora_weights(tmp_path / "lora")
    reloaded = _generate(stock, backbone.is_inpainting)

    np.testing.assert_allclose(reloaded, expected, atol=1e-5)
    baseline = _generate(PIPELINES[kind].from_pretrained(saved_tiny_pipeline(kind)), backbone.is_inpainting)
    assert np.abs(baseline - expected).max() > 1e-3  # the adapters changed the images


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
    assert list(content) == ["<scratch>"]
    assert content["<scratch>"].shape == (backbone.text_encoder.config.hidden_size,)


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
