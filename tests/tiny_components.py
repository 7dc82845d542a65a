"""Tiny randomly initialised diffusers components of the real architectures (as diffusers' tests do).

Shared by the backbone, LoRA, attention and text-to-image tests: SD 1.5 / 2 (text-to-image and
inpainting UNets) and SDXL (two text encoders, added time ids), never touching the hub.
"""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel

CROSS_DIM = 32


def tiny_unet(in_channels: int = 4, seed: int = 0, **overrides) -> UNet2DConditionModel:
    """SD-style UNet: block_out_channels (32, 64), one cross-attention down and up block."""
    torch.manual_seed(seed)
    config = dict(
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
