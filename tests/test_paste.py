"""Copy-paste of a defect: placement on the object, aligned mask, seeding, errors."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from augment.data.demo_data import render_pill
from augment.masks.foreground import estimate_foreground
from augment.masks.geometry import valid_offsets
from augment.masks.paste import cut_defect, paste_defect, paste_patch, place_patch
from tests.test_masks import orientation


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    source, source_mask = render_pill(0, 64, "crack")
    target, _ = render_pill(9, 64, None)
    return target, source, source_mask, estimate_foreground(target)


def _changed(image: np.ndarray, target: np.ndarray, level: int) -> np.ndarray:
    return np.abs(image.astype(int) - target).max(axis=2) > level


def test_paste_keeps_the_mask_on_the_changed_pixels(scene) -> None:
    target, source, source_mask, fg = scene
    out = paste_defect(target, source, source_mask, np.random.default_rng(0), fg)
    assert out is not None
    image, mask = out
    assert image.shape == target.shape
    assert mask.shape == fg.shape
    assert mask.any()
    assert fg[mask > 0].all()
    near = cv2.dilate(mask, np.ones((9, 9), np.uint8)) > 0
    assert _changed(image, target, 12)[mask > 0].mean() > 0.5
    assert not _changed(image, target, 12)[~near].any()


def test_seamless_paste_changes_only_the_patch_around_the_mask(scene) -> None:
    target, source, source_mask, fg = scene
    image, mask = paste_defect(target, source, source_mask, np.random.default_rng(0), fg, blend="seamless")
    assert fg[mask > 0].all()
    near = cv2.dilate(mask, np.ones((15, 15), np.uint8)) > 0
    assert _changed(image, target, 0).any()
    assert not _changed(image, target, 0)[~near].any()


def test_paste_is_seeded(scene) -> None:
    target, source, source_mask, fg = scene
    a = paste_defect(target, source, source_mask, np.random.default_rng(4), fg)
    b = paste_defect(target, source, source_mask, np.random.default_rng(4), fg)
    c = paste_defect(target, source, source_mask, np.random.default_rng(5), fg)
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_paste_returns_none_when_nothing_fits(scene) -> None:
    target, source, source_mask, _ = scene
    tiny = np.zeros(target.shape[:2], bool)
    tiny[10:12, 10:12] = True
    assert paste_defect(target, source, source_mask, np.random.default_rng(0), tiny) is None


def test_seamless_failure_falls_back_to_feathering(scene, monkeypatch, caplog) -> None:
    target, source, source_mask, fg = scene

    def refuse(*args, **kwargs):
        raise cv2.error("refused")

    monkeypatch.setattr(cv2, "seamlessClone", refuse)
    with caplog.at_level(logging.WARNING, logger="augment.masks.paste"):
        out = paste_defect(target, source, source_mask, np.random.default_rng(0), fg, blend="seamless")
    assert out is not None
    assert out[1].any()
    assert "falling back to feathered blending" in caplog.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("empty", "source_mask is empty"),
        ("shape", "source_mask shape"),
        ("dtype", "target must be"),
        ("scale", "scale_range"),
        ("blend", "blend must be"),
        ("foreground", "foreground shape"),
    ],
)
def test_paste_rejects_bad_input(scene, change: str, message: str) -> None:
    target, source, source_mask, fg = scene
    kwargs = {"foreground": fg}
    if change == "empty":
        source_mask = np.zeros_like(source_mask)
    elif change == "shape":
        source_mask = source_mask[:10]
    elif change == "dtype":
        target = target.astype(np.float32)
    elif change == "scale":
        kwargs["scale_range"] = (1.2, 0.8)
    elif change == "blend":
        kwargs["blend"] = "poisson"
    else:
        kwargs["foreground"] = fg[:10]
    with pytest.raises(ValueError, match=message):
        paste_defect(target, source, source_mask, np.random.default_rng(0), **kwargs)


def test_placement_on_a_coarse_foreground_reads_it_at_scaled_coordinates() -> None:
    coarse = np.zeros((16, 16), bool)
    coarse[4:12, 4:12] = True  # object at rows/cols 16..47 of a 64 px image
    full = cv2.resize(coarse.astype(np.uint8), (64, 64), interpolation=cv2.INTER_NEAREST) > 0
    patch_mask = np.ones((8, 8), np.uint8)
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, x = place_patch(patch_mask, coarse, rng, (64, 64))
        assert full[y : y + 8, x : x + 8].all()


@pytest.mark.parametrize(("full", "coarse"), [(24, 6), (30, 7)])
def test_placement_reaches_every_valid_place_on_a_coarse_foreground(full: int, coarse: int) -> None:
    fg = np.zeros((coarse, coarse), bool)
    fg[1:-1, 2:-1] = True
    fg[3, 3] = False
    image_fg = cv2.resize(fg.astype(np.uint8), (full, full), interpolation=cv2.INTER_NEAREST) > 0
    patch_mask = np.zeros((4, 6), np.uint8)
    patch_mask[1, 1:5] = patch_mask[2, 2] = 1  # defect rows/cols start inside the patch box
    valid = {tuple(int(v) for v in o) for o in valid_offsets(patch_mask, image_fg)}
    rng = np.random.default_rng(0)
    drawn = {place_patch(patch_mask, fg, rng, (full, full)) for _ in range(4000)}
    assert valid
    assert drawn == valid


def test_strength_scales_the_pasted_change(scene) -> None:
    target, source, source_mask, fg = scene
    patch = cut_defect(source, source_mask > 0)
    full = paste_patch(target, patch, np.random.default_rng(1), fg, strength=1.0)
    half = paste_patch(target, patch, np.random.default_rng(1), fg, strength=0.5)
    assert np.array_equal(full[1], half[1])
    on = full[1] > 0
    change_full = np.abs(full[0].astype(int) - target)[on].mean()
    change_half = np.abs(half[0].astype(int) - target)[on].mean()
    assert change_half == pytest.approx(change_full / 2, rel=0.1)


def test_paste_patch_refuses_a_strength_outside_0_1(scene) -> None:
    target, source, source_mask, fg = scene
    with pytest.raises(ValueError, match=r"strength must lie in \[0, 1\]"):
        paste_patch(target, cut_defect(source, source_mask > 0), np.random.default_rng(0), fg, strength=1.5)


@pytest.mark.parametrize(("rotate", "steep"), [(15.0, False), (180.0, True)])
def test_paste_rotation_limit(rotate: float, steep: bool) -> None:
    source = np.full((64, 64, 3), 200, np.uint8)
    line = np.zeros((64, 64), np.uint8)
    line[31:33, 8:56] = 1
    source[line > 0] = 0
    target, rng = np.full((96, 96, 3), 200, np.uint8), np.random.default_rng(0)
    angles = [orientation(paste_defect(target, source, line, rng, rotate=rotate)[1]) for _ in range(20)]
    assert (max(angles) > 60) == steep
    assert steep or max(angles) <= 15 + 2
