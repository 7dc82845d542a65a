"""The inpainting denoising loop: paint inside a mask, leave every other pixel untouched.

``inpaint`` crops a window around the mask (``augment.synth.windows``), resizes it to the model
resolution, denoises with the known region re-injected at every step (noised to the current
level, then exactly at the end), resizes the result back and composites it ONLY inside the mask:
pixels outside the mask are the source pixels, bit for bit.

Strength ``s`` in [0, 1] sets how much of the noise schedule is run (img2img style: the window
starts from the source noised to level ``s``) and scales the guidance on the defect prompt,
``scale = 1 + (guidance - 1) * s``; ``s = 0`` returns the source unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from diffusers import DDIMScheduler

from augment.data.resize import resize_image, resize_mask
from augment.models.backbone import Backbone
from augment.models.conditioning import (
    Conditioning,
    encode_prompt,
    model_mask,
    predict_noise,
    to_model_space,
    to_pixels,
)
from augment.synth.windows import centred_box


@dataclass(frozen=True)
class SampleConfig:
    """One inpainting run: denoising steps, strength, guidance, and the model window it paints in."""

    steps: int = 25
    strength: float = 1.0
    guidance: float = 3.0
    resolution: int = 32
    context: float = 1.5


def steps_to_run(cfg: SampleConfig) -> int:
    """How many of the ``cfg.steps`` denoising steps strength ``cfg.strength`` runs (0: none)."""
    return min(cfg.steps, int(np.floor(cfg.steps * max(0.0, cfg.strength) + 0.5)))


class Sampler(Protocol):
    """The part of a diffusers scheduler the denoising loops use (``DDIMScheduler`` after
    ``set_timesteps``). mypy resolves ``diffusers.DDIMScheduler`` to the attribute-less dummy class
    diffusers ships for torch-less installs, so the loops are typed against this instead."""

    timesteps: torch.Tensor
    init_noise_sigma: float

    def scale_model_input(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor: ...

    def step(self, model_output: torch.Tensor, timestep: torch.Tensor, sample: torch.Tensor) -> Any: ...

    def add_noise(
        self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor: ...


def make_sampler(backbone: Backbone, steps: int) -> Sampler:
    """A deterministic DDIM sampler from the training scheduler's config."""
    sampler = DDIMScheduler.from_config(backbone.scheduler.config)
    sampler.set_timesteps(steps)
    return sampler


def _guided(
    backbone: Backbone,
    latents: torch.Tensor,
    t: torch.Tensor,
    cond: Conditioning,
    mask: torch.Tensor,
    masked: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Classifier-free guidance: cond holds [negative, positive] for one sample."""
    both = predict_noise(
        backbone, latents.repeat(2, 1, 1, 1), t, cond, mask.repeat(2, 1, 1, 1), masked.repeat(2, 1, 1, 1)
    )
    negative, positive = both.chunk(2)
    return negative + scale * (positive - negative)


@torch.no_grad()
def denoise_window(
    backbone: Backbone,
    pixels: torch.Tensor,
    mask: torch.Tensor,
    cond: Conditioning,
    cfg: SampleConfig,
    gen: torch.Generator,
) -> torch.Tensor:
    """Inpaint one window (1, 3, R, R) in [-1, 1] under ``mask`` (1, 1, R, R); returns pixels."""
    sampler = make_sampler(backbone, cfg.steps)
    n_run = steps_to_run(cfg)
    timesteps = sampler.timesteps[cfg.steps - n_run :]
    x0 = to_model_space(backbone, pixels)
    m = model_mask(backbone, mask)
    masked = x0 * (1 - m)
    noise = torch.randn(x0.shape, generator=gen).to(x0)
    latents = (
        sampler.add_noise(x0, noise, timesteps[:1]) if n_run < cfg.steps else noise * sampler.init_noise_sigma
    )
    scale = 1.0 + (cfg.guidance - 1.0) * cfg.strength
    for i, t in enumerate(timesteps):
        eps = _guided(backbone, sampler.scale_model_input(latents, t), t.reshape(1), cond, m, masked, scale)
        latents = sampler.step(eps, t, latents).prev_sample
        known = sampler.add_noise(x0, noise, timesteps[i + 1 : i + 2]) if i + 1 < len(timesteps) else x0
        latents = m * latents + (1 - m) * known
    return to_pixels(backbone, latents).clamp(-1, 1)


@torch.no_grad()
def inpaint(
    backbone: Backbone,
    image: np.ndarray,
    mask: np.ndarray,
    prompt: str,
    negative_prompt: str,
    cfg: SampleConfig,
    gen: torch.Generator,
) -> np.ndarray:
    """Paint ``prompt`` into ``image`` (HWC uint8) inside ``mask`` (HW {0,1}); outside stays identical."""
    if steps_to_run(cfg) == 0:
        return image.copy()
    box = centred_box(mask, cfg.resolution, cfg.context)
    window = resize_image(box.cut(image), cfg.resolution)
    wmask = resize_mask(box.cut(mask), cfg.resolution)
    pixels = torch.from_numpy(window.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    mask_t = torch.from_numpy(wmask.astype(np.float32))[None, None]
    cond = encode_prompt(backbone, [negative_prompt, prompt])
    out = denoise_window(backbone, pixels.to(backbone.device), mask_t.to(backbone.device), cond, cfg, gen)
    painted = ((out[0].permute(1, 2, 0).float().cpu().numpy() + 1.0) * 127.5).round().clip(0, 255)
    painted = resize_image(painted.astype(np.uint8), box.side)
    result = image.copy()
    region = box.cut(mask) > 0
    box.cut(result)[region] = painted[region]
    return result
