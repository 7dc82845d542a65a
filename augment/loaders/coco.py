"""COCO instances JSON for box and instance-mask detectors (pycocotools, detectron2, mmdet, torchvision).

One image entry per image, one category per defect type (ids from 1, in the order given), one
annotation per defect component (`augment.masks.boxes.mask_components`) with its ``bbox``
(``[x, y, width, height]``, pixel edges), ``area`` (its pixel count) and ``segmentation`` as
uncompressed RLE (``{"counts": [...], "size": [height, width]}``, column-major runs starting with
background, as pycocotools' ``frPyObjects`` reads it): exact for one-pixel-wide cracks, where
polygons traced around pixel centres lose the defect. Defect-free images have no annotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augment.data.imageio import read_mask
from augment.masks.boxes import DEFAULT_MIN_AREA, coco_box, mask_components

__all__ = ["CocoImage", "coco_document", "rle_encode"]


@dataclass(frozen=True)
class CocoImage:
    """One image of a COCO file: its path (relative to the image root), size, defect type and mask.

    Masks are named by file and read one at a time, so a large export never holds them all.
    """

    file_name: str
    width: int
    height: int
    defect: str | None = None  # None (or a name outside the categories) for defect-free images
    mask: Path | None = None  # its defect mask file, read when its annotations are made


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """Uncompressed COCO RLE of a binary mask: run lengths over the column-major pixels, off first."""
    flat = (np.asarray(mask) > 0).ravel(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"counts": counts, "size": [int(mask.shape[0]), int(mask.shape[1])]}


def _annotations(image: CocoImage, image_id: int, category_id: int, min_area: int) -> list[dict[str, Any]]:
    """One annotation per component of the image's mask (ids filled in by the caller)."""
    if image.mask is None:
        return []
    return [
        {
            "image_id": image_id,
            "category_id": category_id,
            "bbox": coco_box(c.box),
            "area": c.area,
            "segmentation": rle_encode(c.mask),
            "iscrowd": 0,
        }
        for c in mask_components(read_mask(image.mask), min_area)
    ]


def coco_document(
    images: Sequence[CocoImage], categories: Sequence[str], min_area: int = DEFAULT_MIN_AREA
) -> dict[str, Any]:
    """The COCO instances dict of `images` (ids from 1 in the order given)."""
    category_ids = {name: k for k, name in enumerate(categories, start=1)}
    entries, annotations = [], []
    for image_id, image in enumerate(images, start=1):
        entries.append(
            {"id": image_id, "file_name": image.file_name, "width": image.width, "height": image.height}
        )
        if image.defect in category_ids:
            annotations += _annotations(image, image_id, category_ids[image.defect], min_area)
    for ann_id, annotation in enumerate(annotations, start=1):
        annotation["id"] = ann_id
    return {
        "info": {"description": "defect-synth export: one annotation per defect component"},
        "images": entries,
        "annotations": annotations,
        "categories": [
            {"id": k, "name": name, "supercategory": "defect"} for name, k in category_ids.items()
        ],
    }
