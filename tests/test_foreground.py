"""Foreground estimation: the object, not its background; a texture is all foreground."""

from __future__ import annotations

import numpy as np
import pytest

from augment.data.demo_data import render_pill
from augment.masks.foreground import estimate_foreground


@pytest.mark.parametrize("defect", ["scratch", "spot", "crack"])
def test_foreground_covers_the_pill_defects_and_not_the_tray(defect: str) -> None:
    image, mask = render_pill(5, 64, defect)
    fg = estimate_foreground(image)
    assert fg[mask > 0].all()
    assert 0.08 < fg.mean() < 0.4
    assert not fg[0].any()
    assert not fg[:, 0].any()


def test_foreground_of_a_texture_is_the_whole_image() -> None:
    rng = np.random.default_rng(0)
    texture = rng.integers(80, 180, size=(64, 64, 3), dtype=np.uint8)
    assert estimate_foreground(texture).all()


def test_foreground_rejects_a_tiny_image() -> None:
    with pytest.raises(ValueError, match="at least 4x4"):
        estimate_foreground(np.zeros((2, 2, 3), np.uint8))
