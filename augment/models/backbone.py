"""A backbone is the set of diffusers components one code path trains and samples with.

The embedded default (pixel space, no VAE, built from a config) and every pretrained checkpoint
(SD 1.5 / 2, SDXL base, SDXL inpainting; latent space through a VAE) are the same dataclass, so
fitting, generation and saving never branch on where the weights came from, only on what the
components are (``vae is None``, ``text_encoder_2 is None``, the UNet's input channels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

Family = Literal["embedded", "sd", "sdxl"]


@dataclass(frozen=True)
class BaseCheckpoint:
    """The pretrained checkpoint a backbone was loaded from, as ``load_backbone`` loaded it: hub id
    or folder, revision and variant, the dtype its weights were loaded in and their fingerprint
    (``augment.models.fingerprint``). A saved synthesizer stores this instead of the base weights."""

    source: str
    fingerprint: str
    dtype: str = "fp32"
    revision: str | None = None
    variant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def vae_dtype_for(family: str, dtype: torch.dtype) -> torch.dtype:
    """SDXL's VAE overflows to NaN in float16, so it stays float32 there; otherwise ``dtype``."""
    return torch.float32 if family == "sdxl" and dtype == torch.float16 else dtype


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
    base: BaseCheckpoint | None = None
    class_tokens: dict[str, int] = field(default_factory=dict)  # token -> class (augment.models.classes)

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
    def native_resolution(self) -> int:
        """The image side the UNet was trained at (its sample size times the VAE's downsampling):
        512 for SD 1.5 / 2 (inpainting) and 2-base, 768 for SD 2 768-v, 1024 for SDXL."""
        size = self.unet.config.sample_size
        side = size if isinstance(size, int) else max(size)
        return int(side) * self.vae_scale

    @property
    def text_pairs(self) -> list[tuple[Any, Any]]:
        """The (tokenizer, text encoder) pairs present, first then second (a refiner has the second only)."""
        pairs = [(self.tokenizer, self.text_encoder), (self.tokenizer_2, self.text_encoder_2)]
        return [(tok, enc) for tok, enc in pairs if enc is not None]

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The UNet's weight dtype (what the denoising runs in)."""
        return next(self.unet.parameters()).dtype

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Backbone:
        """Move every model to ``device`` and / or cast it to ``dtype`` (the VAE by ``vae_dtype_for``)."""
        where = {} if device is None else {"device": device}
        for module in (self.unet, self.text_encoder, self.text_encoder_2, self.vae):
            if module is None:
                continue
            cast = (
                {}
                if dtype is None
                else {"dtype": vae_dtype_for(self.family, dtype) if module is self.vae else dtype}
            )
            module.to(**where, **cast)  # diffusers warns about any dtype argument, even None
        return self
