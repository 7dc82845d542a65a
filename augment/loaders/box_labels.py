"""An export's box labels: the YOLO view per image as it is written, the COCO file once at the end.

`augment.loaders.export` writes images and masks in the MVTec layout; `ExportLabels` adds, for the
formats asked, a YOLO label file (and a hard link of the image under ``yolo/images``) for every
exported image, real or synthetic, and, once every image is there, ``coco.json`` and
``yolo/data.yaml``. Categories (COCO ids from 1, YOLO classes from 0) are the export's defect types
in sorted order. Every file is written to a temporary name and renamed, and each is a pure function
of the exported masks, so a killed export run again, by any number of processes, ends with the same
bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augment.data.imageio import image_size, read_mask
from augment.files import COCO, YOLO, YOLO_DATA
from augment.loaders.coco import CocoImage, coco_document
from augment.loaders.yolo import data_yaml, label_text, yolo_paths
from augment.masks.boxes import check_min_area

__all__ = ["FORMATS", "ExportLabels", "ExportedImage", "check_formats"]

FORMATS = ("mvtec", "coco", "yolo")  # mvtec: images, masks and manifest; always written
Link = Callable[[Path, Path], None]


@dataclass(frozen=True)
class ExportedImage:
    """An image of the export (paths under its root): its mask (None if defect-free) and defect type."""

    image: Path
    mask: Path | None
    defect: str


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """The export formats in canonical order, ``mvtec`` always among them; refuses unknown names."""
    if isinstance(formats, str):
        formats = [formats]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(
            f"formats must name one or more of {list(FORMATS)}, got {list(formats)}; "
            "mvtec (images, masks, manifest) is always written, coco and yolo add box labels."
        )
    return tuple(f for f in FORMATS if f in formats or f == "mvtec")


def _write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary name (a killed writer leaves no torn file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class ExportLabels:
    """Box labels of one export under `root`, for `formats`, with `classes` in that order."""

    root: Path
    formats: tuple[str, ...]
    classes: tuple[str, ...]
    min_area: int

    def __post_init__(self) -> None:
        check_min_area(self.min_area)

    @property
    def yolo(self) -> bool:
        return "yolo" in self.formats

    def record_keys(self, image: Path) -> dict[str, str]:
        """What a manifest record says about its pair's label files (paths relative to the root)."""
        if not self.yolo:
            return {}
        link, label = yolo_paths(self.root, image)
        return {
            "yolo_image": link.relative_to(self.root).as_posix(),
            "yolo_label": label.relative_to(self.root).as_posix(),
        }

    def add(self, item: ExportedImage, link: Link, mask: np.ndarray | None = None) -> None:
        """The YOLO view of one exported image (`mask` read from disk when not given); no-op when done."""
        if not self.yolo:
            return
        image_link, label = yolo_paths(self.root, item.image)
        if not label.is_file():
            text = ""
            if item.defect in self.classes and item.mask is not None:
                mask = read_mask(self.root / item.mask) if mask is None else mask
                text = label_text(mask, self.classes.index(item.defect), self.min_area)
            _write_text(label, text)
        link(self.root / item.image, image_link)

    def finish(self, items: Sequence[ExportedImage]) -> None:
        """``coco.json`` and ``yolo/data.yaml`` over every image of the export, in the order given."""
        if "coco" in self.formats:
            images = [self._coco_image(item) for item in items]
            document = coco_document(images, self.classes, self.min_area)
            _write_text(self.root / COCO, json.dumps(document, separators=(",", ":")))
        if self.yolo:
            _write_text(self.root / YOLO / YOLO_DATA, data_yaml(self.root, self.classes))

    def _coco_image(self, item: ExportedImage) -> CocoImage:
        width, height = image_size(self.root / item.image)
        mask = None if item.mask is None else self.root / item.mask
        return CocoImage(item.image.as_posix(), width, height, item.defect, mask)
