"""Tiny randomly initialised diffusers components of the real architectures (as diffusers' tests do).

Shared by the backbone, LoRA, attention and text-to-image tests: SD 1.5 / 2 (text-to-image and
inpainting UNets), SDXL base / inpainting (two text encoders, added time ids) and the SDXL refiner,
never touching the hub. ``save_tiny_pipeline`` writes them in the diffusers folder layout.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import string
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

CROSS_DIM = 32
TEXT_DIM = 32
TIME_EMBED_DIM = 8

Kind = Literal["sd", "sd-inpaint", "sdxl", "sdxl-inpaint", "sdxl-refiner"]
KINDS: tuple[Kind, ...] = ("sd", "sd-inpaint", "sdxl", "sdxl-inpaint", "sdxl-refiner")


def tiny_unet(in_channels: int = 4, seed: int = 0, **overrides: Any) -> UNet2DConditionModel:
    """SD-style UNet: block_out_channels (32, 64), one cross-attention down and up block."""
    torch.manual_seed(seed)
    config: dict[str, Any] = dict(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CROSS_DIM,
        attention_head_dim=(2, 4),
        norm_num_groups=32,
    )
    config.update(overrides)
    return UNet2DConditionModel(**config)


def tiny_sdxl_unet(in_channels: int = 4, refiner: bool = False, seed: int = 0) -> UNet2DConditionModel:
    """SDXL-style UNet: text_time added conditioning (6 time ids, or 5 with the refiner's aesthetic score)."""
    text_dims = TEXT_DIM if refiner else 2 * TEXT_DIM
    time_ids = 5 if refiner else 6
    return tiny_unet(
        in_channels,
        seed,
        cross_attention_dim=text_dims,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED_DIM,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=time_ids * TIME_EMBED_DIM + TEXT_DIM,
    )


def tiny_tokenizer() -> CLIPTokenizer:
    """Character-level CLIP tokenizer built from a vocabulary in memory (no hub files)."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in string.ascii_lowercase + string.digits + "<>-_.,'!":
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def tiny_text_encoder(vocab_size: int, projection: bool = False, seed: int = 0) -> torch.nn.Module:
    """CLIP text model with 32 hidden units; ``vocab_size`` equals ``len(tokenizer)`` (see PITFALLS)."""
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=TEXT_DIM,
        intermediate_size=37,
        layer_norm_eps=1e-5,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=vocab_size,
        hidden_act="gelu",
        projection_dim=TEXT_DIM,
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def tiny_vae(seed: int = 0) -> AutoencoderKL:
    """Two-level VAE with 4 latent channels (one latent cell = 2 pixels)."""
    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
    )


def tiny_scheduler() -> DDIMScheduler:
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def tiny_pipeline(kind: Kind, seed: int = 0) -> Any:
    """A stock diffusers pipeline of ``kind`` with tiny random components."""
    inpaint = kind.endswith("inpaint")
    in_channels = 9 if inpaint else 4
    tokenizer = tiny_tokenizer()
    common = dict(vae=tiny_vae(seed), scheduler=tiny_scheduler())
    if kind.startswith("sd-") or kind == "sd":
        cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
        return cls(
            unet=tiny_unet(in_channels, seed),
            text_encoder=tiny_text_encoder(len(tokenizer), seed=seed),
            tokenizer=tokenizer,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
            **common,
        )
    text_encoder_2 = tiny_text_encoder(len(tokenizer), projection=True, seed=seed + 1)
    if kind == "sdxl-refiner":
        return StableDiffusionXLImg2ImgPipeline(
            unet=tiny_sdxl_unet(4, refiner=True, seed=seed),
            text_encoder=None,
            tokenizer=None,
            text_encoder_2=text_encoder_2,
            tokenizer_2=tiny_tokenizer(),
            requires_aesthetics_score=True,
            **common,
        )
    cls = StableDiffusionXLInpaintPipeline if inpaint else StableDiffusionXLPipeline
    return cls(
        unet=tiny_sdxl_unet(in_channels, seed=seed),
        text_encoder=tiny_text_encoder(len(tokenizer), seed=seed),
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tiny_tokenizer(),
        **common,
    )


def save_tiny_pipeline(kind: Kind, folder: Path, seed: int = 0) -> Path:
    """Write a tiny pipeline of ``kind`` to ``folder`` in the diffusers layout (model_index.json + parts)."""
    tiny_pipeline(kind, seed).save_pretrained(folder)
    return folder


@functools.cache
def saved_tiny_pipeline(kind: Kind) -> Path:
    """A tiny pipeline of ``kind`` saved once per test process (read-only; removed at exit)."""
    root = Path(tempfile.mkdtemp(prefix=f"tiny-{kind}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return save_tiny_pipeline(kind, root / kind)


def add_test_tokens(backbone: Any, tokens: list[str]) -> None:
    """Add placeholder tokens to every tokenizer / text encoder pair, rows initialised from 'a'."""
    pairs = [(backbone.tokenizer, backbone.text_encoder), (backbone.tokenizer_2, backbone.text_encoder_2)]
    for tokenizer, encoder in pairs:
        if tokenizer is None:
            continue
        tokenizer.add_tokens(tokens)
        init = tokenizer("a", add_special_tokens=False).input_ids[0]
        encoder.resize_token_embeddings(len(tokenizer))
        with torch.no_grad():
            weight = encoder.get_input_embeddings().weight
            weight[-len(tokens) :] = weight[init]
