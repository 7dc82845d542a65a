"""The procedural pill data: seeded, varied, masks exact and on the pill."""

from __future__ import annotations

import numpy as np
import pytest

from augment.data.demo_data import DEFECT_TYPES, render_pill


def test_same_seed_same_image() -> None:
    a, b = render_pill(4, 64, "crack"), render_pill(4, 64, "crack")
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])


def test_seeds_vary_the_image() -> None:
    assert not np.array_equal(render_pill(1, 64)[0], render_pill(2, 64)[0])


@pytest.mark.parametrize("defect", DEFECT_TYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_defect_mask_lies_on_the_pill_and_marks_a_change(defect: str, seed: int) -> None:
    good, _ = render_pill(seed, 96)
    image, mask = render_pill(seed, 96, defect)
    on = mask.astype(bool)
    assert on.sum() >= 12
    assert good.mean(axis=2)[on].min() > 85, "a defect pixel lies off the bright pill"
    diff = np.abs(image.astype(int) - good.astype(int)).mean(axis=2)
    assert diff[on].mean() > 10


def test_good_image_has_empty_mask() -> None:
    assert render_pill(0, 64)[1].sum() == 0


def test_unknown_defect_is_refused() -> None:
    with pytest.raises(ValueError, match=r"defect must be one of \['crack', 'scratch', 'spot'\]"):
        render_pill(0, 64, "dent")
