"""Defect masks as boxes: components, their boxes and areas, and the box formats."""

from __future__ import annotations

import numpy as np
import pytest

from augment.data.sheets import draw_boxes
from augment.masks.boxes import coco_box, mask_components, normalised_box, yolo_box


def _mask(shape: tuple[int, int], *rects: tuple[int, int, int, int]) -> np.ndarray:
    """A 0/1 mask with the given (x_min, y_min, x_max, y_max) rectangles (maxima exclusive) on."""
    mask = np.zeros(shape, np.uint8)
    for x0, y0, x1, y1 in rects:
        mask[y0:y1, x0:x1] = 1
    return mask


def test_each_component_gets_its_box_area_and_own_mask_in_scan_order() -> None:
    mask = _mask((20, 30), (20, 2, 25, 6), (3, 10, 9, 12))
    components = mask_components(mask, min_area=1)
    assert [c.box for c in components] == [(20, 2, 25, 6), (3, 10, 9, 12)]
    assert [c.area for c in components] == [20, 12]
    assert np.array_equal(components[0].mask, _mask((20, 30), (20, 2, 25, 6)) > 0)


def test_diagonal_pixels_are_one_component() -> None:
    mask = np.eye(6, dtype=np.uint8)
    (component,) = mask_components(mask, min_area=1)
    assert (component.box, component.area) == ((0, 0, 6, 6), 6)


def test_components_below_min_area_get_no_box() -> None:
    mask = _mask((20, 20), (2, 2, 4, 3), (10, 10, 14, 14))
    assert [c.box for c in mask_components(mask, min_area=3)] == [(10, 10, 14, 14)]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_min_area_must_be_a_positive_whole_number(bad: object) -> None:
    with pytest.raises(ValueError, match=r"min_area must be a whole number of pixels >= 1"):
        mask_components(np.ones((3, 3)), min_area=bad)  # type: ignore[arg-type]


def test_box_formats_of_one_box() -> None:
    box, shape = (10, 5, 30, 15), (40, 60)
    assert coco_box(box) == [10, 5, 20, 10]
    assert normalised_box(box, shape) == pytest.approx((10 / 60, 5 / 40, 30 / 60, 15 / 40))
    assert yolo_box(box, shape) == pytest.approx((20 / 60, 10 / 40, 20 / 60, 10 / 40))


def test_draw_boxes_outlines_the_box_edge_pixels() -> None:
    drawn = draw_boxes(np.zeros((10, 12, 3), np.uint8), [(2.0, 3.0, 7.0, 8.0)], [(0, 255, 0)])
    on = drawn[..., 1] == 255
    expected = _mask((10, 12), (2, 3, 7, 8)) > 0
    expected[4:7, 3:6] = False  # inside the outline
    assert np.array_equal(on, expected)
