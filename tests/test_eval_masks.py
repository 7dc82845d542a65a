"""Mask-quality metrics of generated pairs."""

from __future__ import annotations

import numpy as np
import pytest

from eval.masks import area_fractions, changed_region_iou, mask_area_stats, mask_iou


def _square(size: int, side: int) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[:side, :side] = 1
    return m


def test_area_fractions():
    np.testing.assert_allclose(area_fractions([_square(10, 5), _square(10, 0)]), [0.25, 0.0])


def test_same_area_distribution_has_zero_ks():
    masks = [_square(20, s) for s in (2, 4, 6, 8)]
    stats = mask_area_stats(masks, masks)
    assert stats["ks_statistic"] == 0.0
    assert stats["real_area_mean"] == stats["fake_area_mean"]


def test_too_large_masks_give_ks_one_and_count_empties():
    stats = mask_area_stats([_square(20, 3)] * 4, [_square(20, 15)] * 3 + [_square(20, 0)])
    assert stats["ks_statistic"] == pytest.approx(0.75)
    assert stats["fake_empty_fraction"] == 0.25


def test_changed_region_iou_planted():
    source = np.zeros((10, 10, 3), np.uint8)
    generated = source.copy()
    generated[:4, :4] = 100
    assert changed_region_iou(_square(10, 4), source, generated) == 1.0
    assert changed_region_iou(_square(10, 2), source, generated) == pytest.approx(4 / 16)
    assert changed_region_iou(_square(10, 4), source, source) == 0.0


def test_iou_of_two_empty_masks_is_one():
    assert mask_iou(_square(5, 0), _square(5, 0)) == 1.0


@pytest.mark.parametrize(
    ("fn", "args", "match"),
    [
        (mask_iou, (np.zeros((3, 3)), np.zeros((4, 4))), "differ in shape"),
        (
            changed_region_iou,
            (np.zeros((3, 3)), np.zeros((3, 3, 3)), np.zeros((4, 4, 3))),
            "one HW or HWC shape",
        ),
        (area_fractions, ([np.zeros((2, 2, 2))],), "non-empty HW"),
        (mask_area_stats, ([], [np.zeros((2, 2))]), "at least one real"),
    ],
)
def test_mask_input_errors(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)
