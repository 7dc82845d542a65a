"""Defect shape statistics: visible width, contrast, native crops."""

from __future__ import annotations

import numpy as np
import pytest

from eval.shape import contrast, native_crops, shape_stats, visible_width


@pytest.mark.parametrize(("width", "measured"), [(1, 1), (2, 1), (3, 3), (5, 5), (8, 7)])
def test_a_line_measures_its_width_rounded_down_to_odd(width: int, measured: int) -> None:
    mask = np.zeros((60, 120), np.uint8)
    mask[20 : 20 + width, 10:110] = 1
    assert visible_width(mask) == pytest.approx(measured)


def test_contrast_is_the_step_over_the_surroundings_spread() -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(100, 5, (64, 64)).astype(np.float32)
    mask = np.zeros((64, 64), np.uint8)
    mask[28:36, 10:54] = 1
    image[mask > 0] -= 20  # four standard deviations darker
    assert contrast(image, mask) == pytest.approx(4.0, rel=0.15)


def test_empty_masks_measure_nan_and_stats_skip_them() -> None:
    empty = np.zeros((10, 10), np.uint8)
    assert np.isnan(visible_width(empty))
    line = empty.copy()
    line[5, :] = 1
    stats = shape_stats([np.zeros((10, 10, 3), np.uint8)] * 2, [empty, line])
    assert stats["width_median"] == pytest.approx(1.0)
    assert stats["n"] == 2


def test_native_crops_are_centred_on_the_defect_at_its_own_scale() -> None:
    image = np.arange(200 * 50 * 3, dtype=np.uint32).reshape(200, 50, 3).astype(np.uint8)
    mask = np.zeros((200, 50), np.uint8)
    mask[100:102, 20:30] = 1
    crops = native_crops([image, image], [mask, np.zeros_like(mask)], side=32)
    assert len(crops) == 1  # the empty mask gives none
    assert crops[0].shape == (32, 32, 3)
    assert np.array_equal(crops[0][:, 16 - 9 : 16 + 9], image[85:117, 16:34])
