"""The masked, attention-weighted diffusion loss (DefectDiffu's attention-enhanced loss).

Per pixel, the squared error of the model's prediction is weighted 1 outside the defect mask and
``w`` inside it. ``w`` comes from the defect token's cross-attention map ``A`` (one map per
sample, any resolution, resized to the mask):

    ratio = mean(A inside the mask) / mean(A outside the mask)
    w     = clamp(ratio, 2, 8)

so a defect region always counts at least twice as much as the background, and up to eight
times as much once the defect token attends to it. Without an attention map (no capture
installed) ``w`` is the lower bound, 2. ``diffusion_loss`` computes it for one training batch, with
optional Min-SNR-gamma weighting per sample (Hang et al. 2023, "Efficient Diffusion Training via
Min-SNR Weighting Strategy").
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
import torch.nn.functional as F

from augment.models.attention import AttentionStore, capture_cross_attention
from augment.models.backbone import Backbone
from augment.models.conditioning import encode_prompt, model_mask, predict_noise, to_model_space, tokenize
from augment.models.tokens import placeholder
from augment.synth.batches import Batch

__all__ = [
    "MAX_WEIGHT",
    "MIN_WEIGHT",
    "attention_weight",
    "diffusion_loss",
    "masked_diffusion_loss",
    "min_snr_weight",
    "scheduler_snr",
]

MIN_WEIGHT, MAX_WEIGHT = 2.0, 8.0


def attention_weight(
    attention: torch.Tensor | None,
    mask: torch.Tensor,
    lo: float = MIN_WEIGHT,
    hi: float = MAX_WEIGHT,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Inside-mask weight per sample (B,), from attention maps (B, h, w) and masks (B, 1, H, W)."""
    batch = mask.shape[0]
    if attention is None:
        return torch.full((batch,), lo, dtype=mask.dtype, device=mask.device)
    attn = F.interpolate(
        attention.detach()[:, None].float(), size=mask.shape[-2:], mode="bilinear", align_corners=False
    )
    inside = mask.float()
    mean_in = (attn * inside).flatten(1).sum(1) / inside.flatten(1).sum(1).clamp_min(1.0)
    mean_out = (attn * (1 - inside)).flatten(1).sum(1) / (1 - inside).flatten(1).sum(1).clamp_min(1.0)
    ratio = mean_in / mean_out.clamp_min(eps)
    return ratio.clamp(lo, hi).to(mask.dtype)


def masked_diffusion_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    inside_weight: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted MSE: weight 1 outside ``mask`` and ``inside_weight`` (B,) inside, normalised per sample;
    ``sample_weight`` (B,) scales each sample's term (e.g. Min-SNR weights)."""
    if mask.shape[-2:] != pred.shape[-2:]:
        mask = F.interpolate(mask.float(), size=pred.shape[-2:], mode="nearest")
    weights = 1.0 + (inside_weight.view(-1, 1, 1, 1) - 1.0) * mask
    err = (pred.float() - target.float()) ** 2 * weights
    per_sample = err.flatten(1).sum(1) / (weights.expand_as(err).flatten(1).sum(1))
    if sample_weight is not None:
        per_sample = per_sample * sample_weight.to(per_sample)
    return per_sample.mean()


def scheduler_snr(scheduler: Any, timesteps: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) of a DDPM-style scheduler at ``timesteps``."""
    alpha_bar = scheduler.alphas_cumprod.to(timesteps.device)[timesteps].float()
    return alpha_bar / (1.0 - alpha_bar)


def min_snr_weight(snr: torch.Tensor, gamma: float, prediction_type: str) -> torch.Tensor:
    """Per-sample Min-SNR-gamma loss weight for a model predicting ``prediction_type``.

    The paper weights the x0-space loss by min(SNR, gamma). Expressed on what the model predicts:
    epsilon ``min(SNR, gamma) / SNR``; v (``v_prediction``) ``min(SNR, gamma) / (SNR + 1)``;
    the clean sample (``sample``) ``min(SNR, gamma)``.
    """
    clipped = torch.clamp(snr, max=gamma)
    if prediction_type == "epsilon":
        return clipped / snr
    if prediction_type == "v_prediction":
        return clipped / (snr + 1.0)
    if prediction_type == "sample":
        return clipped
    raise ValueError(
        f"Min-SNR weighting knows prediction types 'epsilon', 'v_prediction' and 'sample', got "
        f"{prediction_type!r}; turn min_snr_gamma off for this scheduler."
    )


def _defect_positions(backbone: Backbone, batch: Batch) -> list[list[int]]:
    """Index of each sample's defect token in its encoded prompt ([0] where there is none)."""
    tokenizer = backbone.text_pairs[0][0]  # an SDXL refiner has only its second
    ids = tokenize(tokenizer, batch.prompts)
    out = []
    for row, defect in zip(ids.tolist(), batch.defects, strict=True):
        tok = tokenizer.convert_tokens_to_ids(placeholder(defect)) if defect else None
        out.append([row.index(tok)] if tok in row else [0])
    return out


def diffusion_loss(
    backbone: Backbone,
    batch: Batch,
    gen: torch.Generator,
    use_attention: bool,
    hooks: ExitStack | None = None,
    min_snr_gamma: float | None = None,
) -> torch.Tensor:
    """Masked, attention-weighted loss of one batch (noise and timesteps drawn from ``gen``).

    With ``hooks`` the attention capture stays installed (frozen) until the caller closes it after
    the backward pass, as gradient checkpointing's recompute needs; ``min_snr_gamma`` weights each
    sample by Min-SNR-gamma (``min_snr_weight``).
    """
    sched = backbone.scheduler
    x0 = to_model_space(backbone, batch.pixels.to(backbone.device))
    mask = model_mask(backbone, batch.mask.to(backbone.device))
    noise = torch.randn(x0.shape, generator=gen).to(x0)
    t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), generator=gen).to(x0.device)
    noisy = sched.add_noise(x0, noise, t)
    masked = x0 * (1 - mask)
    target = (
        noise
        if sched.config.prediction_type == "epsilon"
        else (sched.get_velocity(x0, noise, t) if sched.config.prediction_type == "v_prediction" else x0)
    )
    cond = encode_prompt(backbone, batch.prompts)
    has_defect = torch.tensor([d is not None for d in batch.defects], device=x0.device)
    if use_attention and bool(has_defect.any()):
        store = AttentionStore(_defect_positions(backbone, batch))
        with ExitStack() as local:
            (hooks or local).enter_context(capture_cross_attention(backbone.unet, store))
            pred = predict_noise(backbone, noisy, t, cond, mask, masked)
            store.freeze()
        weight = attention_weight(store.maps((mask.shape[-2], mask.shape[-1])), mask)
        weight = torch.where(has_defect, weight, attention_weight(None, mask))
    else:
        pred = predict_noise(backbone, noisy, t, cond, mask, masked)
        weight = attention_weight(None, mask)
    snr_weight = None
    if min_snr_gamma is not None:
        snr_weight = min_snr_weight(scheduler_snr(sched, t), min_snr_gamma, sched.config.prediction_type)
    return masked_diffusion_loss(pred, target, mask, weight, snr_weight)
