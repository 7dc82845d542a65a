"""Pieces of the synthesizer: tokens, the attention-weighted loss, crops, the local tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from augment.data.resize import resize_mask
from augment.models.embedded import build_embedded_backbone, build_tokenizer
from augment.models.tokens import add_placeholder_tokens, placeholder, prompt_for
from augment.synth.losses import attention_weight, masked_diffusion_loss
from augment.synth.windows import centred_box, jittered_box


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


def test_boxes_hold_the_defect() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[10:40, 80:95] = 1
    for box in [centred_box(mask, 32, 1.5), jittered_box(mask, 32, 1.5, np.random.default_rng(0))]:
        assert box.side == 30 * 1.5
        assert box.cut(mask).sum() == mask.sum()


def test_resized_mask_keeps_thin_lines() -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[30, 5:60] = 1
    assert resize_mask(mask, 16).sum() >= 13
