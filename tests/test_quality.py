"""Changed-region refinement and the quality filter."""

from __future__ import annotations

import numpy as np
import pytest

from augment.data.demo_data import render_pill
from augment.masks.changed import changed_region
from augment.masks.quality import QualityFilter, duplicate_distance


@pytest.fixture(scope="module")
def edit() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(source, generated, input mask, truly changed pixels): only half the input mask is painted."""
    source, _ = render_pill(2, 64, None)
    input_mask = np.zeros((64, 64), np.uint8)
    input_mask[24:40, 20:44] = 1
    painted = np.zeros((64, 64), np.uint8)
    painted[28:36, 22:32] = 1
    generated = source.copy()
    generated[painted > 0] = [30, 20, 10]
    return source, generated, input_mask, painted


def test_changed_region_follows_the_change_not_the_input_mask(edit) -> None:
    source, generated, input_mask, painted = edit
    _, region = changed_region(source, generated, input_mask)
    assert region.dtype == np.uint8
    assert region[painted > 0].all()
    assert region.sum() < 0.6 * input_mask.sum()


def test_changed_region_ignores_changes_far_from_the_input_mask(edit) -> None:
    source, generated, input_mask, _ = edit
    noisy = generated.copy()
    noisy[2:8, 2:8] = 255
    assert not changed_region(source, noisy, input_mask)[1][:10, :10].any()


def test_changed_region_rejects_mismatched_shapes(edit) -> None:
    source, generated, _, _ = edit
    with pytest.raises(ValueError, match="mask shape"):
        changed_region(source, generated, np.zeros((8, 8), np.uint8))


def test_filter_accepts_a_visible_defect_on_the_object(edit) -> None:
    source, generated, _, painted = edit
    filt = QualityFilter()
    assert filt.check(source, generated, painted, np.ones((64, 64), bool)) == (True, "ok")
    assert filt.summary()["accepted"] == 1


@pytest.mark.parametrize("case", ["empty_mask", "no_visible_change", "off_foreground", "near_duplicate"])
def test_filter_rejects_and_counts(edit, case: str) -> None:
    source, generated, _, painted = edit
    mask, foreground, shots = painted, None, ()
    if case == "empty_mask":
        mask = np.zeros_like(painted)
    elif case == "no_visible_change":
        generated = source
    elif case == "off_foreground":
        foreground = np.zeros((64, 64), bool)
    else:
        shots = [(generated, painted)]
    filt = QualityFilter()
    assert filt.check(source, generated, mask, foreground, shots) == (False, case)
    assert filt.counts[case] == 1
    assert filt.summary()["rejected"] == 1


def test_duplicate_distance_is_zero_for_a_copy_and_large_for_another_defect() -> None:
    image, mask = render_pill(0, 64, "crack")
    other, other_mask = render_pill(4, 64, "spot")
    assert duplicate_distance(image, mask, [(image, mask)]) < 1e-3
    assert duplicate_distance(image, mask, [(other, other_mask)]) > 0.1


def test_filter_rejects_bad_thresholds() -> None:
    with pytest.raises(ValueError, match="min_on_object"):
        QualityFilter(min_on_object=2.0)
