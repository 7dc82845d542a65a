"""The masked, attention-weighted diffusion loss (DefectDiffu's attention-enhanced loss).

Per pixel, the squared error of the model's prediction is weighted 1 outside the defect mask and
``w`` inside it. ``w`` comes from the defect token's cross-attention map ``A`` (one map per
sample, any resolution, resized to the mask):

    ratio = mean(A inside the mask) / mean(A outside the mask)
    w     = clamp(ratio, 2, 8)

so a defect region always counts at least twice as much as the background, and up to eight
times as much once the defect token attends to it. Without an attention map (no capture
installed) ``w`` is the lower bound, 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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
