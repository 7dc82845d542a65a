"""Defect masks as detector boxes: one box per 8-connected component, in the usual box formats.

A box here is ``(x_min, y_min, x_max, y_max)`` in pixels with the maxima exclusive (the pixel
edges: a one-pixel component at column 3 spans 3 to 4), which is what albumentations' ``pascal_voc``
and COCO's ``[x, y, width, height]`` mean. The transform (`augment.loaders.transform`) and the
export's COCO and YOLO files (`augment.loaders.coco`, `augment.loaders.yolo`) all take their boxes
from `mask_components`, so a defect gets the same boxes wherever it ends up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "DEFAULT_MIN_AREA",
    "Box",
    "Component",
    "check_min_area",
    "coco_box",
    "mask_components",
    "normalised_box",
    "yolo_box",
]

# Components smaller than this many pixels get no box: specks a detector cannot learn from.
DEFAULT_MIN_AREA = 4
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)  # a thin diagonal crack stays one defect

Box = tuple[int, int, int, int]  # x_min, y_min, x_max, y_max in pixels, maxima exclusive


@dataclass(frozen=True)
class Component:
    """One connected piece of a defect mask: its box, its pixel count and its own mask (HW bool)."""

    box: Box
    area: int
    mask: np.ndarray


def check_min_area(min_area: int) -> int:
    """`min_area` as an int >= 1, or a ValueError saying what came."""
    if isinstance(min_area, bool) or not isinstance(min_area, (int, np.integer)) or min_area < 1:
        raise ValueError(
            f"min_area must be a whole number of pixels >= 1 (components smaller than it get no box), "
            f"got {min_area!r}."
        )
    return int(min_area)


def mask_components(mask: np.ndarray, min_area: int = DEFAULT_MIN_AREA) -> list[Component]:
    """The 8-connected components of ``mask > 0`` with at least `min_area` pixels, in scan order
    (of each component's first pixel, row by row)."""
    min_area = check_min_area(min_area)
    on = np.asarray(mask) > 0
    if on.ndim != 2:
        raise ValueError(f"a defect mask must be 2-D (H, W), got shape {on.shape}.")
    labels, _ = ndimage.label(on, structure=EIGHT_CONNECTED)
    components = []
    for k, where in enumerate(ndimage.find_objects(labels), start=1):
        if where is None:
            continue
        own = labels == k
        area = int(np.count_nonzero(own[where]))
        if area >= min_area:
            rows, cols = where
            box = (int(cols.start), int(rows.start), int(cols.stop), int(rows.stop))
            components.append(Component(box, area, own))
    return components


def normalised_box(box: Box, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """``box`` divided by the image's width and height (albumentations' own format)."""
    height, width = shape[:2]
    x_min, y_min, x_max, y_max = box
    return x_min / width, y_min / height, x_max / width, y_max / height


def coco_box(box: Box) -> list[int]:
    """COCO's ``[x, y, width, height]`` in pixels."""
    x_min, y_min, x_max, y_max = box
    return [x_min, y_min, x_max - x_min, y_max - y_min]


def yolo_box(box: Box, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """YOLO's ``(x_center, y_center, width, height)``, each divided by the image's size."""
    x_min, y_min, x_max, y_max = normalised_box(box, shape)
    return (x_min + x_max) / 2, (y_min + y_max) / 2, x_max - x_min, y_max - y_min
