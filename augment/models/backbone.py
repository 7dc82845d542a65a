"""A backbone is the set of diffusers components one code path trains and samples with.

The embedded default (pixel space, no VAE, built from a config) and every pretrained checkpoint
(SD 1.5 / 2, SDXL base, SDXL inpainting; latent space through a VAE) are the same dataclass, so
fitting, generation and saving never branch on where the weights came from, only on what the
components are (``vae is None``, ``text_encoder_2 is None``, the UNet's input channels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

Family = Literal["embedded", "sd", "sdxl"]


@dataclass
class Backbone:
    """Diffusers components. ``vae=None`` means the UNet works in pixel space (scaled to [-1, 1])."""

    unet: Any
    scheduler: Any
    text_encoder: Any
    tokenizer: Any
    vae: Any | None = None
    text_encoder_2: Any | None = None
    tokenizer_2: Any | None = None
    family: Family = "embedded"
    source: str = "embedded"

    @property
    def latent_channels(self) -> int:
        """Channels of the space the UNet denoises: VAE latents, or RGB pixels."""
        return int(self.vae.config.latent_channels) if self.vae is not None else 3

    @property
    def is_inpainting(self) -> bool:
        """Inpainting UNets take noisy latents + mask + masked-image latents (2 * C + 1 channels)."""
        return int(self.unet.config.in_channels) == 2 * self.latent_channels + 1

    @property
    def vae_scale(self) -> int:
        """How many pixels one latent cell covers (1 without a VAE)."""
        if self.vae is None:
            return 1
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def to(self, device: torch.device | str) -> Backbone:
        for module in (self.unet, self.vae, self.text_encoder, self.text_encoder_2):
            if module is not None:
                module.to(device)
        return self
