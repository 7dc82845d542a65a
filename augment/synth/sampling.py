"""The inpainting denoising loop: paint inside a mask at the image's own scale, leave every other
pixel untouched.

``inpaint`` cuts a canvas around the mask (``augment.synth.windows.canvas_box``: the mask's box plus
a margin, at least one model window), tiles it with overlapping windows of the model's side and, at
every denoising step, blends the windows' predictions into one canvas prediction before the
scheduler steps (MultiDiffusion), so a 300 px crack and a 5 px pit are both drawn at true width.
The known region is re-injected at every step (noised to the current level, then exactly at the
end), and the result is composited back ONLY inside the mask: pixels outside it are the source
pixels, bit for bit. Latent backbones run the same loop on the canvas's VAE latents.

Strength ``s`` in [0, 1] sets how much of the noise schedule is run (img2img style: the canvas
starts from ``init`` (default the source) noised to level ``s``) and scales the guidance on the
defect prompt, ``scale = 1 + (guidance - 1) * s``; ``s = 0`` returns the source unchanged. With
``scale == 1`` only the defect prompt is evaluated (half the work of classifier-free guidance).
With ``w_defect`` set, the windows get double-free guidance instead (``augment.synth.guidance``:
null, product and defect branches with scales ``w_product`` and ``w_defect``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from diffusers import DDIMScheduler

from augment.models.backbone import Backbone
from augment.models.conditioning import (
    Conditioning,
    encode_prompt,
    model_mask,
    predict_noise,
    to_model_space,
    to_pixels,
)
from augment.synth.guidance import double_free_guidance, split_branches
from augment.synth.windows import Box, blend_weights, canvas_box, cut_padded, tile_starts

WINDOW_BATCH = 16  # windows per UNet call


@dataclass(frozen=True)
class SampleConfig:
    """One inpainting run: denoising steps, strength, guidance, the model window (``resolution``
    pixels), how much neighbouring windows overlap, and the context ``margin`` (pixels) the canvas
    keeps around the mask."""

    steps: int = 12
    strength: float = 1.0
    guidance: float = 1.0
    resolution: int = 64
    overlap: float = 0.25
    margin: int = 8
    w_product: float | None = None  # double-free guidance (with w_defect); None: classic guidance
    w_defect: float | None = None


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


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]


@dataclass
class Canvas:
    """The region one inpainting run paints, in model space: known content, start, mask, windows."""

    box: Box
    known: torch.Tensor  # (1, C, h, w): the source, in model space
    start: torch.Tensor  # (1, C, h, w): what strength < 1 starts from (the source or ``init``)
    mask: torch.Tensor  # (1, 1, h, w) {0, 1}
    windows: list[tuple[int, int]]  # top-left corners, in model cells
    side: int  # window side, in model cells
    weights: torch.Tensor  # (side, side) blend weights of one window
    total: torch.Tensor  # (h, w) summed weights of all windows (0 where none covers)


def make_canvas(
    backbone: Backbone, image: np.ndarray, mask: np.ndarray, init: np.ndarray, cfg: SampleConfig
) -> Canvas:
    """Cut the canvas around ``mask`` and tile the windows that touch it."""
    scale = backbone.vae_scale
    box = canvas_box(mask, cfg.resolution, cfg.margin, scale)
    device = backbone.device
    known = to_model_space(backbone, _to_tensor(cut_padded(image, box)).to(device))
    start = known if init is image else to_model_space(backbone, _to_tensor(cut_padded(init, box)).to(device))
    pixel_mask = torch.from_numpy(cut_padded(mask, box).astype(np.float32))[None, None].to(device)
    m = model_mask(backbone, pixel_mask)
    side = cfg.resolution // scale
    h, w = m.shape[-2:]
    windows = [
        (y, x)
        for y in tile_starts(h, side, cfg.overlap)
        for x in tile_starts(w, side, cfg.overlap)
        if bool(m[..., y : y + side, x : x + side].any())
    ]
    weights = torch.from_numpy(blend_weights(side)).to(device)
    total = torch.zeros(h, w, device=device)
    for y, x in windows:
        total[y : y + side, x : x + side] += weights
    return Canvas(box, known, start, m, windows, side, weights, total)


def _conditions(cond: Conditioning, index: int, count: int) -> Conditioning:
    """Prompt ``index`` of ``cond`` repeated ``count`` times."""
    return cond.take(index).repeat(count)


def _predict_canvas(
    backbone: Backbone,
    canvas: Canvas,
    latents: torch.Tensor,
    t: torch.Tensor,
    cond: Conditioning,
    scale: float | tuple[float, float],
) -> torch.Tensor:
    """The blended, guided prediction of every window for the whole canvas at timestep ``t``
    (``scale``: the classic guidance scale, or (w_product, w_defect) for three conditions)."""
    s, masked = canvas.side, canvas.known * (1 - canvas.mask)
    out = torch.zeros_like(latents)
    for k in range(0, len(canvas.windows), WINDOW_BATCH):
        part = canvas.windows[k : k + WINDOW_BATCH]
        n = len(part)
        x = torch.cat([latents[..., y : y + s, c : c + s] for y, c in part])
        m = torch.cat([canvas.mask[..., y : y + s, c : c + s] for y, c in part])
        known = torch.cat([masked[..., y : y + s, c : c + s] for y, c in part])
        if isinstance(scale, tuple):  # null, product, defect: double-free guidance
            three = Conditioning.cat([_conditions(cond, i, n) for i in range(3)])
            pred = predict_noise(
                backbone, x.repeat(3, 1, 1, 1), t.reshape(1).expand(3 * n), three, m.repeat(3, 1, 1, 1),
                known.repeat(3, 1, 1, 1),
            )  # fmt: skip
            pred = double_free_guidance(*split_branches(pred), *scale)
        elif scale == 1.0:
            pred = predict_noise(backbone, x, t.reshape(1).expand(n), _conditions(cond, 1, n), m, known)
        else:
            both = Conditioning.cat([_conditions(cond, 0, n), _conditions(cond, 1, n)])
            pair = predict_noise(
                backbone, x.repeat(2, 1, 1, 1), t.reshape(1).expand(2 * n), both, m.repeat(2, 1, 1, 1),
                known.repeat(2, 1, 1, 1),
            )  # fmt: skip
            negative, positive = pair.chunk(2)
            pred = negative + scale * (positive - negative)
        for j, (y, c) in enumerate(part):
            out[..., y : y + s, c : c + s] += pred[j] * canvas.weights
    covered = canvas.total > 0
    return torch.where(covered, out / canvas.total.clamp_min(1e-6), latents)


@torch.no_grad()
def denoise_canvas(
    backbone: Backbone, canvas: Canvas, cond: Conditioning, cfg: SampleConfig, gen: torch.Generator
) -> torch.Tensor:
    """Run the (partial) reverse process on the canvas; returns pixels (1, 3, H, W) in [-1, 1]."""
    sampler = make_sampler(backbone, cfg.steps)
    n_run = steps_to_run(cfg)
    timesteps = sampler.timesteps[cfg.steps - n_run :]
    noise = torch.randn(canvas.known.shape, generator=gen).to(canvas.known)
    latents = (
        sampler.add_noise(canvas.start, noise, timesteps[:1])
        if n_run < cfg.steps
        else noise * sampler.init_noise_sigma
    )
    scale: float | tuple[float, float] = 1.0 + (cfg.guidance - 1.0) * cfg.strength
    if cfg.w_defect is not None:
        scale = (1.0 if cfg.w_product is None else cfg.w_product, cfg.w_defect)
    m = canvas.mask
    for i, t in enumerate(timesteps):
        pred = _predict_canvas(backbone, canvas, sampler.scale_model_input(latents, t), t, cond, scale)
        latents = sampler.step(pred, t, latents).prev_sample
        last = i + 1 == len(timesteps)
        known = canvas.known if last else sampler.add_noise(canvas.known, noise, timesteps[i + 1 : i + 2])
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
    init: np.ndarray | None = None,
    product_prompt: str | None = None,
) -> np.ndarray:
    """Paint ``prompt`` into ``image`` (HWC uint8) inside ``mask`` (HW {0,1}); outside stays identical.

    ``init`` (same shape as ``image``) is what a partial run (strength < 1) starts from instead of
    the source: the pasted image of the harmonize mode. Double-free guidance (``cfg.w_defect``) needs
    ``product_prompt``; ``negative_prompt`` is then its null branch.
    """
    if steps_to_run(cfg) == 0:
        return image.copy()
    if (cfg.w_defect is None) != (product_prompt is None):
        raise ValueError("double-free guidance needs both cfg.w_defect and product_prompt (or neither).")
    canvas = make_canvas(backbone, image, mask, image if init is None else init, cfg)
    texts = [negative_prompt, prompt] if product_prompt is None else [negative_prompt, product_prompt, prompt]
    cond = encode_prompt(backbone, texts)
    out = denoise_canvas(backbone, canvas, cond, cfg, gen)
    painted = ((out[0].permute(1, 2, 0).float().cpu().numpy() + 1.0) * 127.5).round().clip(0, 255)
    h, w = image.shape[:2]
    box = canvas.box
    y0, x0 = max(0, box.y), max(0, box.x)
    y1, x1 = min(h, box.y + box.height), min(w, box.x + box.width)
    inside = painted[y0 - box.y : y1 - box.y, x0 - box.x : x1 - box.x].astype(np.uint8)
    region = mask[y0:y1, x0:x1] > 0
    result = image.copy()
    result[y0:y1, x0:x1][region] = inside[region]
    return result
