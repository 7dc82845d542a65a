"""Cross-attention capture for chosen prompt tokens, and binarisation of the captured maps.

Where a defect token attends tells where the defect is: the text-to-image path turns that into a
mask, and the attention-weighted training loss weights the defect region by it. Capture works through
an attention processor installed with ``unet.set_attn_processor`` (no monkeypatching) on the
cross-attention layers only. Maps are summed per resolution as they come, never stored one by one:
keeping every map of SD 1.5 at 512 px over 50 steps would take gigabytes.

Usage::

    store = AttentionStore(token_indices=[5], steps=late_steps(num_steps))
    with capture_cross_attention(unet, store):
        for i, t in enumerate(timesteps):
            store.step = i
            ...unet(...)...
    heat = store.maps((64, 64))            # (B, 64, 64), averaged over layers and counted steps
    mask = binarize_attention(heat[0].numpy(), method="otsu")
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from augment.masks.threshold import THRESHOLDS, otsu_threshold

__all__ = [
    "AttentionStore",
    "CrossAttentionCapture",
    "binarize_attention",
    "capture_cross_attention",
    "iterative_threshold",
    "late_steps",
    "otsu_threshold",
]


def late_steps(num_steps: int, fraction: float = 0.5) -> range:
    """The last ``fraction`` of ``num_steps`` denoising steps (at least one), where layout has settled."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    count = max(1, round(num_steps * fraction))
    return range(num_steps - count, num_steps)


def _grid(length: int, latent_size: tuple[int, int] | None) -> tuple[int, int]:
    """The (h, w) grid of a flattened feature map of ``length`` cells, given the UNet input size."""
    if latent_size is not None:
        height, width = latent_size
        factor = 1
        while factor <= max(height, width):
            h, w = math.ceil(height / factor), math.ceil(width / factor)
            if h * w == length:
                return h, w
            factor *= 2
    side = math.isqrt(length)
    if side * side != length:
        raise ValueError(
            f"cannot tell the grid of a {length}-cell attention map; set AttentionStore.latent_size "
            f"to the (height, width) the UNet receives"
        )
    return side, side


class AttentionStore:
    """Running sums of cross-attention probabilities of chosen tokens, per spatial resolution.

    ``token_indices``: positions in the encoded prompt (one list for every sample, or one list per
    sample). ``steps``: the step numbers counted (``None``: every step); the sampling loop sets
    ``store.step``. ``batch_slice``: the batch items recorded (e.g. ``slice(n, None)`` for the
    conditional half under classifier-free guidance). ``latent_size``: the (h, w) the UNet
    receives, needed only for non-square inputs.
    """

    def __init__(
        self,
        token_indices: Sequence[int] | Sequence[Sequence[int]],
        steps: Collection[int] | None = None,
        batch_slice: slice | None = None,
        latent_size: tuple[int, int] | None = None,
    ) -> None:
        self.token_indices = _check_tokens(token_indices)
        self.steps = None if steps is None else frozenset(int(s) for s in steps)
        self.batch_slice = batch_slice if batch_slice is not None else slice(None)
        self.latent_size = latent_size
        self.step = 0
        self.enabled = True
        self.frozen = False
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated (call at the start of each sampling run or training step)."""
        self._sums: dict[tuple[int, int], torch.Tensor] = {}
        self._counts: dict[tuple[int, int], int] = {}

    @property
    def active(self) -> bool:
        """Whether the current step is recorded."""
        return self.enabled and (self.steps is None or self.step in self.steps)

    @property
    def num_maps(self) -> int:
        """How many (layer, step) maps have been accumulated."""
        return sum(self._counts.values())

    def freeze(self) -> None:
        """Stop adding maps but keep the capture's code path: a gradient-checkpointing recompute
        in the backward pass then saves the same tensors and counts no map twice."""
        self.frozen = True

    def record(self, probs: torch.Tensor, batch_size: int, heads: int) -> None:
        """Add one layer's probabilities ``(batch * heads, cells, tokens)`` to its resolution's sum."""
        cells, tokens = probs.shape[-2:]
        probs = probs.detach().float().reshape(batch_size, heads, cells, tokens).mean(dim=1)
        probs = probs[self.batch_slice]
        weights = self._token_weights(probs.shape[0], tokens, probs.device)
        heat = torch.einsum("bnl,bl->bn", probs, weights)
        grid = _grid(cells, self.latent_size)
        heat = heat.reshape(heat.shape[0], *grid)
        if grid in self._sums:
            self._sums[grid] = self._sums[grid] + heat
            self._counts[grid] += 1
        else:
            self._sums[grid] = heat
            self._counts[grid] = 1

    def maps(self, size: tuple[int, int] | int) -> torch.Tensor:
        """Mean map over every recorded layer and step, upsampled to ``size``: ``(B, H, W)`` float."""
        if not self._counts:
            raise RuntimeError(
                "no cross-attention was recorded: run the UNet inside capture_cross_attention(...) "
                "and check that store.steps contains the steps you ran"
            )
        out_size = (size, size) if isinstance(size, int) else tuple(size)
        upsampled = [
            F.interpolate(summed[:, None], size=out_size, mode="bilinear", align_corners=False)[:, 0]
            for summed in self._sums.values()
        ]
        return torch.stack(upsampled).sum(dim=0) / self.num_maps

    def _token_weights(self, batch: int, tokens: int, device: torch.device) -> torch.Tensor:
        rows = self.token_indices if isinstance(self.token_indices[0], list) else [self.token_indices] * batch
        if len(rows) != batch:
            raise ValueError(
                f"token_indices has {len(rows)} rows but {batch} batch items are recorded; "
                f"give one list per recorded sample or one list for all"
            )
        weights = torch.zeros(batch, tokens, device=device)
        for row, indices in enumerate(rows):
            bad = [i for i in indices if not 0 <= i < tokens]
            if bad:
                raise ValueError(f"token indices {bad} are outside the prompt's {tokens} positions")
            weights[row, indices] = 1.0
        return weights


def _check_tokens(token_indices: Sequence[int] | Sequence[Sequence[int]]) -> list:
    if isinstance(token_indices, (int, np.integer)) or len(token_indices) == 0:
        raise ValueError(f"token_indices must be a non-empty list of positions, got {token_indices!r}")
    flat = [int(i) for i in token_indices if isinstance(i, (int, np.integer))]
    if len(flat) == len(token_indices):
        return flat
    rows = [[int(i) for i in row] for row in token_indices]  # type: ignore[union-attr]
    if any(not row for row in rows):
        raise ValueError("every per-sample list in token_indices needs at least one position")
    return rows


class CrossAttentionCapture(AttnProcessor2_0):
    """``AttnProcessor2_0`` that also hands the probabilities of cross-attention to a store.

    Self-attention, and steps the store does not count, run the parent's fused kernel unchanged.
    """

    def __init__(self, store: AttentionStore) -> None:
        super().__init__()
        self.store = store

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        if encoder_hidden_states is None or not self.store.active:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        return self._explicit(attn, hidden_states, encoder_hidden_states, attention_mask, temb)

    def _explicit(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        context: torch.Tensor,
        attention_mask: torch.Tensor | None,
        temb: torch.Tensor | None,
    ) -> torch.Tensor:
        """diffusers' ``AttnProcessor`` path, which materialises the probabilities."""
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        batch_size, sequence_length, _ = context.shape
        if attention_mask is not None:  # diffusers returns None for None but annotates a Tensor
            attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        key, value = attn.to_k(context), attn.to_v(context)
        query, key, value = (attn.head_to_batch_dim(x) for x in (query, key, value))
        probs = attn.get_attention_scores(query, key, attention_mask)
        if not self.store.frozen:
            self.store.record(probs, batch_size, attn.heads)
        hidden_states = attn.batch_to_head_dim(torch.bmm(probs, value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


class ProcessorHost(Protocol):
    """What ``capture_cross_attention`` needs of a UNet: diffusers' attention-processor API
    (``torch.nn.Module`` alone types ``unet.attn_processors`` as a Tensor or Module)."""

    @property
    def attn_processors(self) -> dict[str, Any]: ...

    def set_attn_processor(self, processor: Any) -> None: ...

    def get_submodule(self, target: str) -> torch.nn.Module: ...


def _cross_attention_names(unet: ProcessorHost) -> list[str]:
    names = []
    for name in unet.attn_processors:
        module = unet.get_submodule(name.removesuffix(".processor"))
        if getattr(module, "is_cross_attention", False):
            names.append(name)
    return names


@contextmanager
def capture_cross_attention(unet: ProcessorHost, store: AttentionStore) -> Iterator[AttentionStore]:
    """Install ``CrossAttentionCapture`` on the cross-attention layers of ``unet``; restore on exit."""
    if not hasattr(unet, "set_attn_processor"):
        raise TypeError(f"expected a diffusers UNet with set_attn_processor, got {type(unet).__name__}")
    original = dict(unet.attn_processors)
    cross = _cross_attention_names(unet)
    if not cross:
        raise ValueError(f"{type(unet).__name__} has no cross-attention layers to capture")
    capture = CrossAttentionCapture(store)
    unet.set_attn_processor({name: capture if name in cross else proc for name, proc in original.items()})
    try:
        yield store
    finally:
        unet.set_attn_processor(dict(original))


def iterative_threshold(values: np.ndarray, tol: float = 1e-6, max_iter: int = 200) -> float:
    """Ridler-Calvard (isodata): move the cut to the midpoint of the two class means until it settles."""
    values = np.asarray(values, dtype=np.float64).ravel()
    threshold = float(values.mean())
    for _ in range(max_iter):
        above = values > threshold
        if above.all() or not above.any():
            return threshold
        new = 0.5 * (float(values[above].mean()) + float(values[~above].mean()))
        if abs(new - threshold) <= tol:
            return new
        threshold = new
    return threshold


def binarize_attention(heat: np.ndarray | torch.Tensor, method: str = "otsu") -> np.ndarray:
    """Threshold an attention map into a mask (HW uint8 {0, 1}); a flat map gives an empty mask."""
    if isinstance(heat, torch.Tensor):
        heat = heat.detach().float().cpu().numpy()
    heat = np.asarray(heat, dtype=np.float64)
    if heat.ndim != 2:
        raise ValueError(
            f"expected a 2-D attention map (H, W), got shape {heat.shape}; index the batch first"
        )
    if not np.isfinite(heat).all():
        raise ValueError("attention map contains NaN or inf values; check the captured maps")
    if method not in THRESHOLDS:
        raise ValueError(f"method must be 'otsu' or 'iterative', got {method!r}")
    if heat.max() - heat.min() <= 1e-12 * max(1.0, abs(float(heat.max()))):
        return np.zeros(heat.shape, dtype=np.uint8)
    if method == "otsu":
        return (heat >= otsu_threshold(heat)).astype(np.uint8)
    return (heat > iterative_threshold(heat)).astype(np.uint8)
