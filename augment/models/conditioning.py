"""Prompt encoding and the UNet call, behind two small functions every backbone goes through.

``encode_prompt`` turns prompts into the UNet's conditioning and ``predict_noise`` runs the UNet
on (noisy latents, mask, masked latents). The embedded default and SD 1.5 / 2 need only the text
encoder's hidden states; SDXL adds pooled text embeddings and time ids (``added``, from ``_encode_sdxl``),
so training and sampling never branch on the family. ``to_model_space`` /
``to_pixels`` move between pixels in [-1, 1] and the space the UNet denoises (identity without a VAE).

Precision: what travels between the models (pixels, latents, predictions) is float32, and each
model casts its input to its own weights' dtype, so a bf16 or fp16 UNet next to a float32 VAE (SDXL
in fp16) needs no care from the loops, and a float32 backbone runs exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from augment.models.backbone import Backbone
from augment.models.classes import class_labels


@dataclass
class Conditioning:
    """What the UNet is conditioned on for a batch of prompts (``class_labels``: with class
    embeddings, ``augment.models.classes``)."""

    hidden: torch.Tensor
    added: dict[str, torch.Tensor] = field(default_factory=dict)
    class_labels: torch.Tensor | None = None

    def repeat(self, times: int) -> Conditioning:
        labels = None if self.class_labels is None else self.class_labels.repeat_interleave(times, 0)
        return Conditioning(
            self.hidden.repeat_interleave(times, 0),
            {k: v.repeat_interleave(times, 0) for k, v in self.added.items()},
            labels,
        )

    def take(self, index: int) -> Conditioning:
        """The conditioning of prompt ``index`` alone."""
        labels = None if self.class_labels is None else self.class_labels[index : index + 1]
        added = {k: v[index : index + 1] for k, v in self.added.items()}
        return Conditioning(self.hidden[index : index + 1], added, labels)

    @staticmethod
    def cat(items: Sequence[Conditioning]) -> Conditioning:
        added = {k: torch.cat([c.added[k] for c in items]) for k in items[0].added}
        labels = [c.class_labels for c in items]
        joined = None if any(x is None for x in labels) else torch.cat(labels)  # type: ignore[arg-type]
        return Conditioning(torch.cat([c.hidden for c in items]), added, joined)


def tokenize(tokenizer: Any, prompts: Sequence[str]) -> torch.Tensor:
    """Token ids padded to the tokenizer's maximum length (as Stable Diffusion does)."""
    return tokenizer(
        list(prompts),
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


def encode_prompt(
    backbone: Backbone, prompts: Sequence[str], size: tuple[int, int] | None = None
) -> Conditioning:
    """Text-encoder hidden states for ``prompts`` (gradients flow when the encoder trains).

    SDXL backbones also get ``added`` (pooled text embeddings and time ids for image ``size``,
    by default the UNet's native size).
    """
    labels = class_labels(backbone, prompts)
    if backbone.text_encoder_2 is not None:
        cond = _encode_sdxl(backbone, backbone.text_encoder_2, prompts, size)
        cond.class_labels = labels
        return cond
    ids = tokenize(backbone.tokenizer, prompts).to(backbone.device)
    return Conditioning(backbone.text_encoder(ids)[0], class_labels=labels)


AESTHETIC_SCORE = 6.0


def sdxl_time_ids(backbone: Backbone, size: tuple[int, int] | None, batch: int) -> torch.Tensor:
    """SDXL micro-conditioning: (original h, w, crop top, left, target h, w), or for the refiner
    (original h, w, crop top, left, aesthetic score); no crop, original = target."""
    if size is None:
        size = (backbone.native_resolution, backbone.native_resolution)
    h, w = size
    values = [h, w, 0, 0, AESTHETIC_SCORE] if backbone.text_encoder is None else [h, w, 0, 0, h, w]
    return torch.tensor([values] * batch, dtype=torch.float32, device=backbone.device)


def _encode_sdxl(
    backbone: Backbone, encoder_2: Any, prompts: Sequence[str], size: tuple[int, int] | None
) -> Conditioning:
    """Both encoders' penultimate hidden states, concatenated, plus the second's pooled projection
    (the refiner has only the second encoder), as diffusers' SDXL pipelines encode prompts."""
    hidden = []
    if backbone.text_encoder is not None:
        ids = tokenize(backbone.tokenizer, prompts).to(backbone.device)
        hidden.append(backbone.text_encoder(ids, output_hidden_states=True).hidden_states[-2])
    ids_2 = tokenize(backbone.tokenizer_2, prompts).to(backbone.device)
    second = encoder_2(ids_2, output_hidden_states=True)
    hidden.append(second.hidden_states[-2])
    dtype = backbone.unet.dtype
    added = {
        "text_embeds": second.text_embeds.to(dtype),
        "time_ids": sdxl_time_ids(backbone, size, len(prompts)).to(dtype),
    }
    return Conditioning(torch.cat(hidden, dim=-1).to(dtype), added)


def to_model_space(backbone: Backbone, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in [-1, 1] -> what the UNet denoises (VAE latents times the scaling factor)."""
    if backbone.vae is None:
        return pixels
    latents = backbone.vae.encode(pixels.to(backbone.vae.dtype)).latent_dist.mean
    return latents.float() * backbone.vae.config.scaling_factor


def to_pixels(backbone: Backbone, latents: torch.Tensor) -> torch.Tensor:
    """Inverse of ``to_model_space``: model space -> pixels in [-1, 1]."""
    if backbone.vae is None:
        return latents
    vae = backbone.vae
    return vae.decode((latents / vae.config.scaling_factor).to(vae.dtype)).sample.float()


def model_mask(backbone: Backbone, mask: torch.Tensor) -> torch.Tensor:
    """A pixel mask (B, 1, H, W) at the UNet's resolution (any covered pixel marks its latent cell)."""
    scale = backbone.vae_scale
    return mask if scale == 1 else F.max_pool2d(mask, scale)


def predict_noise(
    backbone: Backbone,
    latents: torch.Tensor,
    t: torch.Tensor,
    cond: Conditioning,
    mask: torch.Tensor | None = None,
    masked: torch.Tensor | None = None,
    cross_attention_kwargs: dict[str, Any] | None = None,
) -> torch.Tensor:
    """The UNet's prediction; inpainting UNets also get the mask and the masked latents."""
    x = latents
    if backbone.is_inpainting:
        if mask is None or masked is None:
            raise ValueError("an inpainting UNet needs mask and masked latents; got None.")
        x = torch.cat([latents, mask.to(latents), masked.to(latents)], dim=1)
    dtype = backbone.dtype
    added = {k: v.to(dtype) for k, v in cond.added.items()} or None
    return backbone.unet(
        x.to(dtype),
        t.to(x.device),  # the UNet moves a 0-d timestep to the input's device, not a 1-d one
        encoder_hidden_states=cond.hidden.to(dtype),
        class_labels=None if cond.class_labels is None else cond.class_labels.to(x.device),
        added_cond_kwargs=added,
        cross_attention_kwargs=cross_attention_kwargs,
    ).sample.float()
