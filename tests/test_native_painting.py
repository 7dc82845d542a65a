"""Painting at the image's own scale: planted models show width, seams, labels and harmonize mode.

A *planted* UNet predicts a known clean image (prediction type ``sample``), so what the sampling
loop does with windows, blending and compositing is visible exactly: DDIM with one step returns
the blended prediction itself.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler

from augment.masks.changed import Visibility, changed_pixels, changed_region, harmonized_region
from augment.models.backbone import Backbone
from augment.models.embedded import build_text_encoder, build_tokenizer
from augment.synth.generate import PaintSpec, harmonize_inputs, paint, record_inputs
from augment.synth.sampling import SampleConfig, inpaint

SIDE = 32


class PlantedUNet(torch.nn.Module):
    """An inpainting 'UNet' (7 input channels) whose clean-image prediction is chosen by a rule."""

    def __init__(self, rule: str) -> None:
        super().__init__()
        self.rule = rule
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device
        self.config = SimpleNamespace(in_channels=7, sample_size=SIDE)
        self.calls = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor, **_: object) -> SimpleNamespace:
        mask, known = x[:, 3:4], x[:, 4:7]
        if self.rule == "black":  # the source where known, black inside the mask
            pred = known * (1 - mask) - mask
        else:  # "per-window": each window its own flat value, a different one for every window
            values = torch.arange(self.calls, self.calls + x.shape[0], dtype=x.dtype) % 5 / 5 - 0.4
            pred = values.view(-1, 1, 1, 1).expand(-1, 3, *x.shape[-2:]).clone()
        self.calls += x.shape[0]
        return SimpleNamespace(sample=pred)


def planted_backbone(rule: str) -> Backbone:
    tokenizer = build_tokenizer()
    encoder = build_text_encoder(len(tokenizer), bos_id=tokenizer.bos_token_id, eos_id=tokenizer.eos_token_id)
    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="sample", clip_sample=True)
    return Backbone(unet=PlantedUNet(rule), scheduler=scheduler, text_encoder=encoder, tokenizer=tokenizer)


ONE_STEP = SampleConfig(steps=1, strength=1.0, guidance=1.0, resolution=SIDE)


def _paint(backbone: Backbone, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return inpaint(backbone, image, mask, "a photo of a", "", ONE_STEP, torch.Generator().manual_seed(0))


def test_a_thin_line_in_a_large_image_stays_thin() -> None:
    image = np.full((400, 400, 3), 180, np.uint8)
    mask = np.zeros((400, 400), np.uint8)
    mask[200:202, 20:380] = 1  # 2 px wide, 360 px long: eleven windows of 32 px
    out = _paint(planted_backbone("black"), image, mask)
    dark = out.mean(axis=2) < 90
    widths = dark[:, 20:380].sum(axis=0)
    assert widths.min() >= 1
    assert widths.max() <= 3
    assert np.array_equal(out[mask == 0], image[mask == 0])


def test_overlapping_windows_blend_without_seams() -> None:
    image = np.full((96, 200, 3), 120, np.uint8)
    mask = np.zeros((96, 200), np.uint8)
    mask[10:86, 10:190] = 1
    out = _paint(planted_backbone("per-window"), image, mask).astype(np.int16)[15:80, 15:185, 0]
    step_x, step_y = np.abs(np.diff(out, axis=1)).max(), np.abs(np.diff(out, axis=0)).max()
    jump = 255 / 5  # two neighbouring windows' values differ by up to this much
    assert len(np.unique(out)) > 5  # windows really differ
    assert max(step_x, step_y) < jump / 4  # but blend smoothly: no step at a window border


def test_an_image_smaller_than_a_window_is_painted() -> None:
    image = np.full((12, 20, 3), 200, np.uint8)
    mask = np.zeros((12, 20), np.uint8)
    mask[5:7, 2:18] = 1
    out = _paint(planted_backbone("black"), image, mask)
    assert out.shape == image.shape
    assert (out[mask > 0] < 60).all()


@pytest.fixture
def textured() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(128, 12, (64, 64, 1)), 0, 255).repeat(3, axis=2).astype(np.uint8)


def test_a_faint_change_below_the_texture_is_not_labelled(textured: np.ndarray) -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[20:44, 20:44] = 1
    faint = textured.copy()
    faint[28:36, 28:36] += 3  # a quarter of the grain's own spread: not visible
    result, label = changed_region(textured, faint, mask)
    assert not label.any()
    assert np.array_equal(result, textured)


def test_a_visible_change_is_labelled_and_kept(textured: np.ndarray) -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[20:44, 20:44] = 1
    marked = textured.copy()
    marked[30:33, 22:42] = 20  # a dark scratch
    result, label = changed_region(textured, marked, mask)
    assert label[30:33, 22:42].all()
    assert np.array_equal(result[30:33, 22:42], marked[30:33, 22:42])
    assert label.sum() < 3 * 3 * 20  # the scratch and its one-pixel soft edge, not the whole mask


def test_no_changed_pixel_is_labelled_background(textured: np.ndarray) -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 1
    rng = np.random.default_rng(1)
    painted = textured.copy()
    painted[mask > 0] = rng.integers(0, 256, (int(mask.sum()), 3), dtype=np.uint8)  # any painting
    result, label = changed_region(textured, painted, mask)
    floor = Visibility().noise_floor
    assert not (changed_pixels(textured, result, floor) & (label == 0)).any()


def _paste_region() -> tuple[np.ndarray, np.ndarray]:
    """A pasted defect's mask (core) and the region re-noised around it (core grown by 2 px)."""
    core = np.zeros((64, 64), np.uint8)
    core[28:36, 20:44] = 1
    region = np.zeros_like(core)
    region[26:38, 18:46] = 1
    return core, region


def test_a_harmonized_paste_is_labelled_with_its_pasted_mask(textured: np.ndarray) -> None:
    core, region = _paste_region()
    generated = textured.copy()
    generated[core > 0] = textured[core > 0] // 2 + 60  # the paste: not all of it visibly darker
    _, label = harmonized_region(textured, generated, region, core)
    assert label[core > 0].all()
    assert not label[(region > 0) & (core == 0)].any()


def test_a_harmonized_ring_stays_within_the_noise_floor(textured: np.ndarray) -> None:
    core, region = _paste_region()
    rng = np.random.default_rng(2)
    generated = textured.copy()
    ring = (region > 0) & (core == 0)
    generated[ring] = np.clip(textured[ring].astype(int) + rng.integers(-8, 9, (int(ring.sum()), 3)), 0, 255)
    result, label = harmonized_region(textured, generated, region, core)
    floor = Visibility().noise_floor
    assert not (changed_pixels(textured, result, floor) & (label == 0)).any()
    assert not label[ring].any()  # small (invisible) ring changes are held back, not labelled


def test_a_visible_change_in_the_harmonized_ring_is_held_not_labelled(textured: np.ndarray) -> None:
    core, region = _paste_region()
    generated = textured.copy()
    ring = (region > 0) & (core == 0)
    generated[ring] = 0  # a re-render far darker than the surface: visible
    result, label = harmonized_region(textured, generated, region, core)
    assert np.array_equal(label > 0, core > 0)  # the label is the pasted mask, at its own width
    floor = Visibility().noise_floor
    assert not changed_pixels(textured, result, floor)[ring].any()


def _harmonize_spec() -> PaintSpec:
    cfg = SampleConfig(steps=4, strength=0.5, guidance=1.0, resolution=SIDE)
    return PaintSpec(planted_backbone("black"), "pill", "crack", cfg)


def _shot() -> tuple[np.ndarray, np.ndarray]:
    image = np.full((40, 40, 3), 150, np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[18:21, 5:35] = 1
    image[mask > 0] = 30
    return image, mask


def test_harmonize_changes_nothing_outside_the_grown_paste(textured: np.ndarray) -> None:
    foreground = np.ones(textured.shape[:2], bool)
    drawn = harmonize_inputs(textured, foreground, [_shot()], seed=4)
    assert drawn is not None
    region = drawn.mask
    out, label = paint(_harmonize_spec(), 4, textured, region, drawn.init, drawn.core)
    assert np.array_equal(out[region == 0], textured[region == 0])
    assert label.any()
    assert not label[region == 0].any()


def test_harmonize_is_seeded(textured: np.ndarray) -> None:
    foreground = np.ones(textured.shape[:2], bool)
    runs = []
    for _ in range(2):
        drawn = harmonize_inputs(textured, foreground, [_shot()], seed=7)
        assert drawn is not None
        runs.append(paint(_harmonize_spec(), 7, textured, drawn.mask, drawn.init, drawn.core))
    assert np.array_equal(runs[0][0], runs[1][0])
    assert np.array_equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("blend", ["feather", "seamless", None])
def test_a_harmonize_record_redraws_its_own_paste(textured: np.ndarray, blend: str | None) -> None:
    """Records name their paste blend; records written before it existed pasted with feathered alpha."""
    foreground = np.ones(textured.shape[:2], bool)
    drawn = harmonize_inputs(textured, foreground, [_shot()], seed=5, blend=blend or "feather")
    assert drawn is not None
    assert drawn.init is not None
    record = {"seed": 5, "mask_source": "harmonize"} | ({} if blend is None else {"paste_blend": blend})
    again = record_inputs(record, textured, None, [_shot()])
    assert again.init is not None
    assert np.array_equal(again.init, drawn.init)
