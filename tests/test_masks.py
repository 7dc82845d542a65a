"""Mask sources: foreground estimate, real-mask bank, procedural shapes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from augment.data.demo_data import render_pill
from augment.masks.bank import RealMaskBank
from augment.masks.foreground import estimate_foreground
from augment.masks.geometry import expanding_rotation, flip_affine
from augment.masks.sampler import MaskSampler
from augment.masks.shapes import PROCEDURAL_KINDS, procedural_mask


@pytest.fixture(scope="module")
def pill() -> tuple[np.ndarray, np.ndarray]:
    image, _ = render_pill(1, 64, None)
    return image, estimate_foreground(image)


@pytest.fixture(scope="module")
def bank() -> RealMaskBank:
    return RealMaskBank([render_pill(s, 64, "crack")[1] for s in range(3)])


def test_bank_samples_stay_on_the_foreground(pill, bank) -> None:
    _, fg = pill
    rng = np.random.default_rng(0)
    for _ in range(10):
        mask = bank.sample((64, 64), fg, rng)
        assert mask.dtype == np.uint8
        assert set(np.unique(mask)) == {0, 1}
        assert fg[mask > 0].all()


def test_bank_is_seeded(pill, bank) -> None:
    _, fg = pill
    a = bank.sample((64, 64), fg, np.random.default_rng(7))
    b = bank.sample((64, 64), fg, np.random.default_rng(7))
    c = bank.sample((64, 64), fg, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bank_varies_its_masks(pill, bank) -> None:
    _, fg = pill
    rng = np.random.default_rng(1)
    masks = {bank.sample((64, 64), fg, rng).tobytes() for _ in range(8)}
    assert len(masks) == 8


def test_bank_raises_when_nothing_fits(bank) -> None:
    fg = np.zeros((64, 64), bool)
    fg[30:32, 30:32] = True
    with pytest.raises(ValueError, match="no placement of a real mask fits"):
        RealMaskBank(bank.crops, scale_range=(3.0, 3.0), max_tries=3).sample(
            (64, 64), fg, np.random.default_rng(0)
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"masks": [np.zeros((8, 8))]}, "at least one non-empty mask"),
        ({"masks": [np.ones((4, 4))], "scale_range": (0, 1)}, "scale_range"),
        ({"masks": [np.ones((4, 4))], "max_tries": 0}, "max_tries"),
    ],
)
def test_bank_rejects_bad_arguments(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RealMaskBank(**kwargs)


def test_bank_rejects_a_foreground_of_another_shape(bank) -> None:
    with pytest.raises(ValueError, match="foreground shape"):
        bank.sample((64, 64), np.ones((32, 32), bool), np.random.default_rng(0))


@pytest.mark.parametrize("kind", PROCEDURAL_KINDS)
def test_procedural_masks_are_seeded_and_on_the_foreground(pill, kind: str) -> None:
    _, fg = pill
    a = procedural_mask(kind, (64, 64), fg, np.random.default_rng(3))
    b = procedural_mask(kind, (64, 64), fg, np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert a.sum() >= 2
    assert fg[a > 0].all()


def test_procedural_rejects_an_unknown_kind(pill) -> None:
    with pytest.raises(ValueError, match="unknown procedural mask kind 'dent'"):
        procedural_mask("dent", (64, 64), pill[1], np.random.default_rng(0))


def test_procedural_rejects_an_empty_foreground() -> None:
    with pytest.raises(ValueError, match="foreground is empty"):
        procedural_mask("blob", (64, 64), np.zeros((64, 64), bool), np.random.default_rng(0))


def orientation(mask: np.ndarray) -> float:
    """Angle of a mask's main axis from the horizontal, in degrees in [0, 90] (second moments)."""
    ys, xs = np.nonzero(mask)
    cov = np.cov(np.stack([xs, ys]).astype(float))
    angle = 0.5 * np.degrees(np.arctan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1]))
    return abs(angle)


def line_bank(**kwargs) -> RealMaskBank:
    line = np.zeros((64, 64), np.uint8)
    line[31:33, 8:56] = 1
    return RealMaskBank([line], elastic_alpha=0.0, **kwargs)


def test_bank_keeps_a_horizontal_line_within_the_jitter() -> None:
    bank, rng = line_bank(), np.random.default_rng(0)
    angles = [orientation(bank.sample((96, 96), None, rng)) for _ in range(20)]
    assert max(angles) <= 15 + 2


@pytest.mark.parametrize(("kwargs", "max_angle"), [({"max_rotation": 180}, 60), ({"rotate": True}, 60)])
def test_bank_full_rotation_reaches_steep_angles(kwargs, max_angle: float) -> None:
    bank, rng = line_bank(**kwargs), np.random.default_rng(0)
    angles = [orientation(bank.sample((96, 96), None, rng)) for _ in range(20)]
    assert max(angles) > max_angle


def test_bank_without_rotation_keeps_the_line_horizontal() -> None:
    bank, rng = line_bank(max_rotation=0), np.random.default_rng(0)
    assert all(orientation(bank.sample((96, 96), None, rng)) < 1 for _ in range(5))


@pytest.mark.parametrize("value", [-1, 181, "15"])
def test_bank_rejects_a_bad_rotation(value) -> None:
    with pytest.raises(ValueError, match="max_rotation must be degrees in"):
        line_bank(max_rotation=value)


@pytest.mark.parametrize(("lr", "ud"), [(False, False), (True, False), (False, True), (True, True)])
def test_flip_affine_equals_warping_then_flipping(lr: bool, ud: bool) -> None:
    patch = np.random.default_rng(0).integers(0, 256, (13, 21, 3), dtype=np.uint8)
    mat, size = expanding_rotation(patch.shape, 10.0, 1.1)
    warped = cv2.warpAffine(patch, mat, size, flags=cv2.INTER_NEAREST)
    expected = warped[:: -1 if ud else 1, :: -1 if lr else 1]
    got = cv2.warpAffine(patch, flip_affine(mat, size, lr, ud), size, flags=cv2.INTER_NEAREST)
    assert np.array_equal(got, expected)


def test_sampler_rejects_an_unknown_source() -> None:
    with pytest.raises(ValueError, match="mask_source must be"):
        MaskSampler("procedural:star", None)


def test_real_sampler_without_a_bank_says_how_to_build_one(pill) -> None:
    _, fg = pill
    with pytest.raises(ValueError, match="no bank of shot masks"):
        MaskSampler("real", None)(fg, np.random.default_rng(0))


def test_sampler_built_with_a_bank_draws_from_it(pill, bank) -> None:
    _, fg = pill
    sampler = MaskSampler("real", bank)
    drawn = sampler(fg, np.random.default_rng(0))
    assert np.array_equal(drawn, bank.sample(fg.shape, fg, np.random.default_rng(0)))
