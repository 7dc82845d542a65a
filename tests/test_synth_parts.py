"""Pieces of the synthesizer: tokens, the attention-weighted loss, crops, the local tokenizer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from augment.data.resize import resize_mask
from augment.models.embedded import build_embedded_backbone, build_tokenizer
from augment.models.tokens import add_placeholder_tokens, placeholder, prompt_for
from augment.synth.batches import TrainData, sample_batch
from augment.synth.losses import attention_weight, masked_diffusion_loss
from augment.synth.options import FitConfig
from augment.synth.windows import Box, cut_padded, defect_window, random_window, tile_starts


def test_tokenizer_keeps_template_words_whole() -> None:
    tok = build_tokenizer()
    ids = tok("a photo of a", add_special_tokens=False).input_ids
    assert len(ids) == 4


def test_placeholder_tokens_are_single_and_rows_match() -> None:
    backbone = build_embedded_backbone(16, (8, 16, 16))
    ids = add_placeholder_tokens(backbone.tokenizer, backbone.text_encoder, ["pill", "scratch"])
    encoded = backbone.tokenizer(prompt_for("pill", "scratch"), add_special_tokens=False).input_ids
    assert ids[0] in encoded
    assert ids[1] in encoded
    assert backbone.text_encoder.get_input_embeddings().weight.shape[0] == len(backbone.tokenizer)
    assert add_placeholder_tokens(backbone.tokenizer, backbone.text_encoder, ["scratch"]) == ids[1:]


@pytest.mark.parametrize("name", ["", "two words", "<x>"])
def test_bad_token_names(name: str) -> None:
    with pytest.raises(ValueError, match="a token name must be"):
        placeholder(name)


def _mask() -> torch.Tensor:
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:4, 2:4] = 1
    return mask


@pytest.mark.parametrize(("inside", "expected"), [(1.0, 2.0), (5.0, 5.0), (100.0, 8.0)])
def test_attention_weight_is_clamped_ratio(inside: float, expected: float) -> None:
    attn = torch.ones(1, 8, 8)
    attn[0, 2:4, 2:4] = inside
    assert attention_weight(attn, _mask()).item() == pytest.approx(expected)


def test_attention_weight_without_maps_is_lower_bound() -> None:
    assert attention_weight(None, _mask()).tolist() == [2.0]


def test_loss_counts_inside_error_more() -> None:
    mask, zero = _mask(), torch.zeros(1, 3, 8, 8)
    inside, outside = zero.clone(), zero.clone()
    inside[..., 2, 2] = 1.0
    outside[..., 6, 6] = 1.0
    w = torch.tensor([4.0])
    assert masked_diffusion_loss(inside, zero, mask, w) == pytest.approx(
        4 * masked_diffusion_loss(outside, zero, mask, w)
    )


def test_defect_windows_are_cut_at_the_image_scale() -> None:
    image = np.random.default_rng(0).integers(0, 256, (100, 100, 3), dtype=np.uint8)
    mask = np.zeros((100, 100), np.uint8)
    mask[10:40, 80:82] = 1  # a 2 px wide line, longer than the window
    window, window_mask = defect_window(image, mask, 32, np.random.default_rng(1))
    assert window.shape == (32, 32, 3)
    assert window_mask.any()
    assert set(window_mask.sum(axis=1).tolist()) <= {0, 2}  # still 2 px wide: no resize


def test_windows_mirror_an_image_smaller_than_the_window() -> None:
    image = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    assert random_window(image, 16, np.random.default_rng(0)).shape == (16, 16, 3)
    inside = cut_padded(image, Box(-3, -2, 16, 16))
    assert (inside[3:8, 2:9] == image).all()


@pytest.mark.parametrize(("length", "side"), [(64, 64), (100, 64), (300, 64), (65, 64)])
def test_tiles_cover_the_length_and_overlap(length: int, side: int) -> None:
    starts = tile_starts(length, side, 0.25)
    assert starts[0] == 0
    assert starts[-1] == max(0, length - side)
    assert all(b - a <= side * 0.75 for a, b in itertools.pairwise(starts))


def test_resized_mask_keeps_thin_lines() -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[30, 5:60] = 1
    assert resize_mask(mask, 16).sum() >= 13


def test_prior_batches_show_only_the_clean_surface() -> None:
    shot = np.full((40, 40, 3), 90, np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[18:22, 5:35] = 1
    data = TrainData("pill", [(shot, mask, "crack")], [np.full((50, 50, 3), 200, np.uint8)])
    cfg = FitConfig(resolution=16, batch_size=16, uncond_prob=0.0)
    prior = sample_batch(data, cfg, np.random.default_rng(0), prior=True)
    assert prior.defects == [None] * 16
    assert (prior.pixels > 0.5).all()  # every window is the bright defect-free image
    later = sample_batch(data, cfg, np.random.default_rng(0))
    assert "crack" in later.defects
