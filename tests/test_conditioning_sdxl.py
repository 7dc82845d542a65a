"""SDXL conditioning matches diffusers' own pipelines (prompt embeddings, pooled embeddings, time ids)."""

from __future__ import annotations

import pytest
import torch

from augment.models.conditioning import encode_prompt, predict_noise
from augment.models.pretrained import load_backbone
from tests.tiny_components import Kind, saved_tiny_pipeline, tiny_pipeline

PROMPTS = ["a photo of a pill", ""]


@pytest.mark.parametrize(
    ("kind", "time_ids"), [("sdxl", [32, 32, 0, 0, 32, 32]), ("sdxl-refiner", [32, 32, 0, 0, 6])]
)
def test_encode_prompt_matches_the_diffusers_pipeline(kind: Kind, time_ids: list[float]) -> None:
    backbone = load_backbone(str(saved_tiny_pipeline(kind)))
    ours = encode_prompt(backbone, PROMPTS, size=(32, 32))
    embeds, _, pooled, _ = tiny_pipeline(kind).encode_prompt(
        prompt=PROMPTS, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=False
    )
    torch.testing.assert_close(ours.hidden, embeds)
    torch.testing.assert_close(ours.added["text_embeds"], pooled)
    assert ours.added["time_ids"].tolist() == [time_ids] * 2


@pytest.mark.parametrize("kind", ["sdxl", "sdxl-inpaint"])
def test_sdxl_unet_runs_on_the_conditioning(kind: Kind) -> None:
    backbone = load_backbone(str(saved_tiny_pipeline(kind)))
    with torch.no_grad():
        cond = encode_prompt(backbone, PROMPTS)
        latents = torch.zeros(2, 4, 8, 8)
        mask, masked = torch.ones(2, 1, 8, 8), torch.zeros(2, 4, 8, 8)
        assert predict_noise(backbone, latents, torch.tensor([10, 10]), cond, mask, masked).shape == (
            2,
            4,
            8,
            8,
        )
