"""Cross-attention capture: planted attention patterns come back as the right mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from augment.models.attention import (
    AttentionStore,
    CrossAttentionCapture,
    binarize_attention,
    capture_cross_attention,
    late_steps,
)
from tests.tiny_components import CROSS_DIM, tiny_unet

HEIGHT, WIDTH = 8, 6
REGION = (slice(2, 6), slice(1, 4))


def planted_attention() -> tuple[Attention, torch.Tensor, torch.Tensor]:
    """A cross-attention layer whose cells inside REGION attend to token 1 and the rest to token 0."""
    attn = Attention(query_dim=2, cross_attention_dim=2, heads=1, dim_head=2, bias=False, out_bias=False)
    with torch.no_grad():
        for linear in (attn.to_q, attn.to_k, attn.to_v, attn.to_out[0]):
            linear.weight.copy_(torch.eye(2))
    inside = np.zeros((HEIGHT, WIDTH), dtype=bool)
    inside[REGION] = True
    flat = torch.from_numpy(inside.ravel())
    hidden = torch.where(flat[:, None], torch.tensor([6.0, 0.0]), torch.tensor([0.0, 6.0]))[None]
    context = torch.tensor([[[0.0, 6.0], [6.0, 0.0], [0.0, 6.0]]])
    return attn, hidden, context


def expected_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[REGION] = 1
    return mask


@pytest.mark.parametrize("method", ["otsu", "iterative"])
def test_planted_pattern_gives_the_region_mask(method: str) -> None:
    attn, hidden, context = planted_attention()
    store = AttentionStore(token_indices=[1], latent_size=(HEIGHT, WIDTH))
    attn.set_processor(CrossAttentionCapture(store))
    attn(hidden, encoder_hidden_states=context)
    heat = store.maps((HEIGHT, WIDTH))[0]
    np.testing.assert_array_equal(binarize_attention(heat, method=method), expected_mask())


def test_capture_leaves_the_layer_output_unchanged() -> None:
    attn, hidden, context = planted_attention()
    reference = attn(hidden, encoder_hidden_states=context)
    attn.set_processor(CrossAttentionCapture(AttentionStore(token_indices=[1], latent_size=(HEIGHT, WIDTH))))
    torch.testing.assert_close(attn(hidden, encoder_hidden_states=context), reference)


def test_only_counted_steps_are_recorded() -> None:
    attn, hidden, context = planted_attention()
    store = AttentionStore(token_indices=[1], steps={1}, latent_size=(HEIGHT, WIDTH))
    attn.set_processor(CrossAttentionCapture(store))
    for step in range(3):
        store.step = step
        attn(hidden, encoder_hidden_states=context)
    assert store.num_maps == 1


def test_per_sample_token_indices_select_each_samples_token() -> None:
    attn, hidden, context = planted_attention()
    store = AttentionStore(token_indices=[[1], [0]], latent_size=(HEIGHT, WIDTH))
    attn.set_processor(CrossAttentionCapture(store))
    attn(hidden.repeat(2, 1, 1), encoder_hidden_states=context.repeat(2, 1, 1))
    heat = store.maps((HEIGHT, WIDTH))
    np.testing.assert_array_equal(binarize_attention(heat[0]), expected_mask())
    np.testing.assert_array_equal(binarize_attention(heat[1]), 1 - expected_mask())


def test_unet_capture_installs_on_cross_attention_and_restores() -> None:
    unet = tiny_unet().eval()
    sample = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    context = torch.randn(2, 5, CROSS_DIM, generator=torch.Generator().manual_seed(1))
    before = {name: type(p) for name, p in unet.attn_processors.items()}
    with torch.no_grad():
        reference = unet(sample, 10, context).sample
        store = AttentionStore(token_indices=[2], batch_slice=slice(1, None))
        with capture_cross_attention(unet, store):
            captured = unet(sample, 10, context).sample
            kinds = {type(p) for name, p in unet.attn_processors.items() if "attn2" in name}
            self_kinds = {type(p) for name, p in unet.attn_processors.items() if "attn1" in name}
    assert kinds == {CrossAttentionCapture}
    assert self_kinds == {AttnProcessor2_0}
    assert {name: type(p) for name, p in unet.attn_processors.items()} == before
    torch.testing.assert_close(captured, reference, atol=1e-4, rtol=1e-4)
    assert store.maps(16).shape == (1, 16, 16)
    assert store.num_maps == sum("attn2" in name for name in before)  # each cross layer once


def test_binarize_flat_map_is_empty() -> None:
    assert binarize_attention(np.full((4, 4), 0.3)).sum() == 0


@pytest.mark.parametrize(
    ("heat", "method", "message"),
    [
        (np.zeros((2, 4, 4)), "otsu", "2-D attention map"),
        (np.full((4, 4), np.nan), "otsu", "NaN or inf"),
        (np.eye(4), "kmeans", "'otsu' or 'iterative'"),
    ],
)
def test_binarize_rejects_bad_input(heat: np.ndarray, method: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binarize_attention(heat, method=method)  # type: ignore[arg-type]


def test_maps_before_recording_raises() -> None:
    with pytest.raises(RuntimeError, match="no cross-attention was recorded"):
        AttentionStore(token_indices=[1]).maps(8)


def test_token_outside_prompt_raises() -> None:
    attn, hidden, context = planted_attention()
    attn.set_processor(CrossAttentionCapture(AttentionStore(token_indices=[7], latent_size=(HEIGHT, WIDTH))))
    with pytest.raises(ValueError, match="outside the prompt's 3 positions"):
        attn(hidden, encoder_hidden_states=context)


@pytest.mark.parametrize(("tokens", "message"), [([], "non-empty"), ([[1], []], "at least one position")])
def test_bad_token_indices_raise(tokens: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AttentionStore(token_indices=tokens)


def test_late_steps_are_the_last_fraction() -> None:
    assert list(late_steps(10, 0.3)) == [7, 8, 9]
    with pytest.raises(ValueError, match="fraction must be in"):
        late_steps(10, 0.0)
