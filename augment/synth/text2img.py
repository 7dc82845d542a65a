"""Text-to-image defect synthesis: a whole defect image from a prompt, its mask from cross-attention.

"a photo of a <pill> with a <scratch>" is denoised from pure noise under double-free guidance
(``augment.synth.guidance``: separate product and defect scales). While it runs, the defect token's
cross-attention in the defect branch is summed over the late denoising steps and every layer
(``augment.models.attention``); the mean map, upsampled to the image, is binarised (Otsu or iterative
thresholding) into the mask, as DefectDiffu does. Inpainting UNets get a full mask and an empty
masked image, which is how they generate whole images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from augment.data.pairs import SyntheticPair
from augment.masks.measure import mask_area_stats, mask_iou
from augment.masks.threshold import THRESHOLDS
from augment.models.attention import AttentionStore, binarize_attention, capture_cross_attention, late_steps
from augment.models.backbone import Backbone
from augment.models.conditioning import Conditioning, encode_prompt, predict_noise, to_pixels, tokenize
from augment.models.tokens import placeholder, prompt_for
from augment.synth.guidance import double_free_guidance, split_branches
from augment.synth.sampling import make_sampler
from augment.synth.windows import centred_window, cut_padded

__all__ = ["Text2ImgConfig", "defect_token_position", "mask_quality", "text_to_image"]


@dataclass(frozen=True)
class Text2ImgConfig:
    """Sampling settings: ``w_product``/``w_defect`` are the double-free guidance scales."""

    steps: int = 25
    resolution: int = 32
    w_product: float = 2.0
    w_defect: float = 3.0
    late_fraction: float = 0.5
    threshold: str = "otsu"  # or "iterative" (augment.masks.threshold.THRESHOLDS)
    prompt: str | None = None  # None: "a photo of a <product> with a <defect>"
    negative_prompt: str | None = None  # the null branch; None: ""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.resolution < 8:
            raise ValueError(f"resolution must be >= 8 pixels, got {self.resolution}")
        if self.threshold not in THRESHOLDS:
            raise ValueError(f"threshold must be one of {list(THRESHOLDS)}, got {self.threshold!r}.")


def defect_token_position(backbone: Backbone, prompt: str, defect: str) -> int:
    """Where ``<defect>`` sits in the encoded ``prompt`` (the attention map to capture)."""
    vocab = backbone.tokenizer.get_vocab()
    token = vocab.get(placeholder(defect))
    ids = tokenize(backbone.tokenizer, [prompt])[0].tolist()
    if token is None or token not in ids:
        raise ValueError(
            f"the token {placeholder(defect)} is not in the encoded prompt {prompt!r}; "
            f"fit the defect type {defect!r} first (its token must be in the tokenizer)"
        )
    return ids.index(token)


def _branches(backbone: Backbone, product: str, prompt: str, negative: str, n: int) -> Conditioning:
    """Conditioning for [null] * n + [product] * n + [defect] * n (``GUIDANCE_BRANCHES`` order)."""
    return encode_prompt(backbone, [negative, prompt_for(product, None), prompt]).repeat(n)


@torch.no_grad()
def _denoise(
    backbone: Backbone,
    cond: Conditioning,
    n: int,
    cfg: Text2ImgConfig,
    store: AttentionStore,
    gen: torch.Generator,
) -> torch.Tensor:
    sampler = make_sampler(backbone, cfg.steps)
    side = cfg.resolution // backbone.vae_scale
    shape = (n, backbone.latent_channels, side, side)
    latents = torch.randn(shape, generator=gen).to(backbone.device) * sampler.init_noise_sigma
    mask = torch.ones(3 * n, 1, side, side, device=latents.device)
    masked = torch.zeros(3 * n, *shape[1:], device=latents.device)
    with capture_cross_attention(backbone.unet, store):
        for i, t in enumerate(sampler.timesteps):
            store.step = i
            x = sampler.scale_model_input(latents, t).repeat(3, 1, 1, 1)
            eps = predict_noise(backbone, x, t.reshape(1).expand(3 * n), cond, mask, masked)
            eps = double_free_guidance(*split_branches(eps), cfg.w_product, cfg.w_defect)
            latents = sampler.step(eps, t, latents).prev_sample
    return to_pixels(backbone, latents).clamp(-1, 1)


def text_to_image(
    backbone: Backbone,
    product: str,
    defect: str,
    n: int = 1,
    cfg: Text2ImgConfig | None = None,
    seed: int = 0,
) -> list[SyntheticPair]:
    """``n`` whole defect images with masks from the defect token's late-step cross-attention."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    cfg = cfg or Text2ImgConfig()
    prompt = cfg.prompt if cfg.prompt is not None else prompt_for(product, defect)
    negative = cfg.negative_prompt if cfg.negative_prompt is not None else ""
    position = defect_token_position(backbone, prompt, defect)
    store = AttentionStore(
        [position], steps=late_steps(cfg.steps, cfg.late_fraction), batch_slice=slice(2 * n, 3 * n)
    )
    cond = _branches(backbone, product, prompt, negative, n)
    pixels = _denoise(backbone, cond, n, cfg, store, torch.Generator().manual_seed(seed))
    heat = store.maps((cfg.resolution, cfg.resolution)).cpu()
    images = ((pixels.permute(0, 2, 3, 1).float().cpu().numpy() + 1.0) * 127.5).round().clip(0, 255)
    pairs = []
    for i in range(n):
        record = {
            "mode": "text2img",
            "seed": seed,
            "batch_index": i,
            "prompt": prompt,
            "negative_prompt": negative,
            "product": product,
            "defect": defect,
            "w_product": cfg.w_product,
            "w_defect": cfg.w_defect,
            "steps": cfg.steps,
            "resolution": cfg.resolution,
            "late_fraction": cfg.late_fraction,
            "threshold": cfg.threshold,
            "source_image": "",
            "mask_source": "cross-attention",
        }
        mask = binarize_attention(heat[i], method=cfg.threshold)
        pairs.append(SyntheticPair(images[i].astype(np.uint8), mask, record))
    return pairs


def mask_quality(
    masks: Sequence[np.ndarray], shot_masks: Sequence[np.ndarray], resolution: int
) -> dict[str, float]:
    """Text-to-image masks against the real shot masks, each seen as a model window.

    A text2img image is one model window at the image's scale, so each shot mask is cut the same
    way: a ``resolution``-pixel window centred on its defect. Area statistics come from ``augment.masks.measure``; as no generated
    mask has a real partner, ``best_match_iou_*`` is each mask's best IoU over the shots.
    """
    real = [cut_padded(m, centred_window(m, resolution)) for m in shot_masks if m.any()]
    if not real or not masks:
        raise ValueError(
            f"mask quality needs generated masks and non-empty shot masks, got {len(masks)} and "
            f"{len(real)}; fit the synthesizer on the defect type first."
        )
    best = np.array([max(mask_iou(mask, r) for r in real) for mask in masks])
    stats = mask_area_stats(real, masks)
    return stats | {"best_match_iou_mean": float(best.mean()), "best_match_iou_min": float(best.min())}
