"""YOLO (Ultralytics) detection labels: one text file per image, one line per defect component.

The documented convention: each line is ``class x_center y_center width height``, the class a
0-based index into ``names`` and the four numbers divided by the image's width and height; the
label file has the image's path with ``images`` replaced by ``labels`` and the suffix by ``.txt``
(an image with no defect has an empty file); ``data.yaml`` names the dataset root (``path``), the
image folders (``train``, ``val``) relative to it, and the classes (``names``: index -> name).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from augment.files import YOLO
from augment.masks.boxes import DEFAULT_MIN_AREA, mask_components, yolo_box

__all__ = ["IMAGES", "LABELS", "data_yaml", "label_text", "yolo_paths"]

IMAGES, LABELS = "images", "labels"


def yolo_paths(root: Path, image: Path) -> tuple[Path, Path]:
    """Where the YOLO view of ``root/image`` puts the image (a link) and its label file."""
    relative = image.relative_to(root) if image.is_absolute() else image
    return root / YOLO / IMAGES / relative, (root / YOLO / LABELS / relative).with_suffix(".txt")


def label_text(mask: np.ndarray | None, class_id: int, min_area: int = DEFAULT_MIN_AREA) -> str:
    """The label file of one image: a line per component of `mask` (none for None or an empty mask)."""
    if mask is None:
        return ""
    shape = np.shape(mask)
    return "".join(
        f"{class_id} {x:.8f} {y:.8f} {w:.8f} {h:.8f}\n"
        for x, y, w, h in (yolo_box(c.box, shape) for c in mask_components(mask, min_area))
    )


def data_yaml(root: Path, names: Sequence[str]) -> str:
    """``data.yaml`` of the YOLO view under ``root``: every image in one set, named as ``train`` and ``val``."""
    config = {
        "path": str((root / YOLO).resolve()),
        "train": IMAGES,
        "val": IMAGES,
        "names": dict(enumerate(names)),
    }
    header = (
        "# defect-synth export, YOLO view: train and val both list every image (real and synthetic).\n"
        "# Point val at held-out real images before reporting any number.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)
