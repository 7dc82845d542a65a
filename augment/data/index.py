"""Index a dataset folder into rows of (image, mask, defect type, product, split).

Two layouts are read:

* **MVTec AD**: ``<product>/train/good``, ``<product>/test/good``, ``<product>/test/<defect>``,
  ``<product>/ground_truth/<defect>/<stem>_mask.png``. The root may be one product folder or a
  folder of product folders.
* **generic**: one subfolder per defect type (``good`` for defect-free images), masks either
  beside their image as ``<stem>_mask.png`` or in a ``masks/`` subfolder as ``<stem>.png`` or
  ``<stem>_mask.png``. The product is the root folder's name; the split is ``all``.

`index_folder` is a pure function of the folder; it validates every defect mask once (size,
binary, non-empty) so that later steps can trust the rows. Files it does not use are listed in
``DatasetIndex.skipped`` with the reason, never dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from augment.data.imageio import IMAGE_SUFFIXES, image_size, is_image_file, read_image, read_mask
from augment.errors import DataError
from augment.files import YOLO

logger = logging.getLogger(__name__)

GOOD = "good"
MVTEC_SPLITS = ("train", "test")
MASK_SUFFIX = "_mask"
Layout = Literal["auto", "mvtec", "generic"]


@dataclass(frozen=True)
class Sample:
    """One row of the index. ``mask`` is None for defect-free (``good``) images."""

    image: Path
    mask: Path | None
    defect: str
    product: str
    split: str

    @property
    def is_good(self) -> bool:
        return self.defect == GOOD

    def to_record(self, root: Path | None = None) -> dict[str, str]:
        """JSON- and collate-friendly dict; paths relative to ``root`` when given, "" for no mask."""

        def rel(p: Path | None) -> str:
            if p is None:
                return ""
            return p.relative_to(root).as_posix() if root is not None else str(p)

        return {
            "image": rel(self.image),
            "mask": rel(self.mask),
            "defect": self.defect,
            "product": self.product,
            "split": self.split,
        }


@dataclass
class DatasetIndex:
    """All rows of a dataset folder plus the files that were not used and why."""

    root: Path
    layout: str
    samples: list[Sample]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def defects(self) -> list[str]:
        """Defect types present (``good`` excluded), sorted."""
        return sorted({s.defect for s in self.samples if not s.is_good})

    @property
    def products(self) -> list[str]:
        return sorted({s.product for s in self.samples})

    def counts(self) -> dict[str, dict[str, int]]:
        """Number of images per product and defect type (``good`` included)."""
        out: dict[str, dict[str, int]] = {}
        for (product, defect), n in sorted(Counter((s.product, s.defect) for s in self.samples).items()):
            out.setdefault(product, {})[defect] = n
        return out

    def fingerprint(self) -> str:
        """Short hash of the relative file list and sizes: changes when the data changes."""
        h = hashlib.sha256()
        for s in self.samples:
            for p in (s.image, s.mask):
                if p is not None:
                    h.update(p.relative_to(self.root).as_posix().encode())
                    h.update(str(p.stat().st_size).encode())
        return h.hexdigest()[:16]

    def summary(self) -> dict[str, object]:
        """A JSON-friendly summary for reports and the command line."""
        return {
            "root": str(self.root),
            "layout": self.layout,
            "fingerprint": self.fingerprint(),
            "counts": self.counts(),
            "n_images": len(self.samples),
            "skipped": [{"path": str(p), "reason": r} for p, r in self.skipped],
        }

    def to_json(self) -> str:
        return json.dumps(
            self.summary() | {"samples": [s.to_record(self.root) for s in self.samples]}, indent=2
        )


def _check_defects(available: Iterable[str], wanted: Sequence[str] | None, root: Path) -> None:
    """Raise when a requested defect type does not exist, listing the ones that do."""
    if wanted is None:
        return
    known = set(available) | {GOOD}
    missing = [d for d in wanted if d not in known]
    if missing:
        raise DataError(
            f"defect type(s) {missing} not found in {root}; available: {sorted(set(available))}. "
            "Defect types are the subfolder names."
        )


def _list_dir(folder: Path, skipped: list[tuple[Path, str]]) -> list[Path]:
    """Image files of a folder, sorted; everything else goes to ``skipped`` with a reason."""
    images = []
    for p in sorted(folder.iterdir()):
        if p.is_dir():
            continue
        if p.name.startswith("."):
            skipped.append((p, "hidden file"))
        elif p.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append((p, f"not an image file (suffix '{p.suffix}')"))
        else:
            images.append(p)
    return images


def _validate_pair(image: Path, mask: Path) -> None:
    """A defect image's mask must match its size and hold at least one defect pixel."""
    isize, msize = image_size(image), image_size(mask)
    if isize != msize:
        raise DataError(
            f"mask {mask} is {msize[0]}x{msize[1]} but its image {image} is {isize[0]}x{isize[1]} "
            "(width x height). Resize the mask to the image with nearest-neighbour interpolation."
        )
    if not read_mask(mask).any():
        raise DataError(
            f"mask {mask} is empty (no defect pixel) but {image} is filed as a defect. "
            "Draw the defect in the mask, or move the image to the 'good' folder."
        )


def _find_mask(candidates: Sequence[Path]) -> Path | None:
    return next((c for c in candidates if is_image_file(c)), None)


def _mask_candidates(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}{suffix}{ext}" for suffix in (MASK_SUFFIX, "") for ext in sorted(IMAGE_SUFFIXES)]


def _is_mvtec_product(folder: Path) -> bool:
    return any((folder / s).is_dir() for s in MVTEC_SPLITS)


def _index_mvtec_product(
    folder: Path, wanted: Sequence[str] | None, skipped: list[tuple[Path, str]]
) -> list[Sample]:
    product = folder.name
    gt = folder / "ground_truth"
    samples: list[Sample] = []
    used_masks: set[Path] = set()
    available = set()
    for split in MVTEC_SPLITS:
        split_dir = folder / split
        if not split_dir.is_dir():
            continue
        for defect_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            defect = defect_dir.name
            available.add(defect)
            if wanted is not None and defect not in wanted and defect != GOOD:
                continue
            for image in _list_dir(defect_dir, skipped):
                mask = None
                if defect != GOOD:
                    mask = _find_mask(_mask_candidates(gt / defect, image.stem))
                    if mask is None:
                        raise DataError(
                            f"defect image {image} has no mask: expected "
                            f"{gt / defect / (image.stem + MASK_SUFFIX + '.png')}. Add the mask, or move the "
                            "image to good/ if it has no defect."
                        )
                    _validate_pair(image, mask)
                    used_masks.add(mask)
                samples.append(Sample(image, mask, defect, product, split))
    if gt.is_dir():
        for mask_file in sorted(gt.rglob("*")):
            unused = mask_file.is_file() and mask_file not in used_masks
            if unused and (wanted is None or mask_file.parent.name in wanted):
                skipped.append((mask_file, "mask with no matching image"))
    _check_defects(available - {GOOD}, wanted, folder)
    return samples


def _index_generic(root: Path, wanted: Sequence[str] | None, skipped: list[tuple[Path, str]]) -> list[Sample]:
    product = root.name
    samples: list[Sample] = []
    type_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    _check_defects([d.name for d in type_dirs if d.name != GOOD], wanted, root)
    for type_dir in type_dirs:
        defect = type_dir.name
        if wanted is not None and defect not in wanted and defect != GOOD:
            continue
        files = _list_dir(type_dir, skipped)
        masks_dir = type_dir / "masks"
        mask_files = {f for f in files if f.stem.endswith(MASK_SUFFIX)}
        used: set[Path] = set()
        for image in (f for f in files if f not in mask_files):
            mask = _find_mask(
                _mask_candidates(type_dir, image.stem)[: len(IMAGE_SUFFIXES)]
                + _mask_candidates(masks_dir, image.stem)
            )
            if defect == GOOD:
                if mask is not None:
                    skipped.append((mask, "mask of a defect-free image (good/ images need no mask)"))
                    used.add(mask)
                mask = None
            elif mask is None:
                raise DataError(
                    f"defect image {image} has no mask: expected {type_dir / (image.stem + MASK_SUFFIX + '.png')} "
                    f"or {masks_dir / (image.stem + '.png')}. Add the mask, or move the image to good/."
                )
            else:
                _validate_pair(image, mask)
                used.add(mask)
            samples.append(Sample(image, mask, defect, product, "all"))
        for orphan in sorted(mask_files - used):
            skipped.append((orphan, "mask with no matching image"))
    return samples


def _detect_layout(root: Path) -> tuple[str, list[Path]]:
    """('mvtec', product folders) or ('generic', [root]); raise if neither fits."""
    if _is_mvtec_product(root):
        return "mvtec", [root]
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    products = [p for p in subdirs if p.name != YOLO]  # an export's YOLO view is no product
    if products and all(_is_mvtec_product(p) for p in products):
        return "mvtec", products
    if subdirs and any(is_image_file(f) for d in subdirs for f in d.iterdir()):
        return "generic", [root]
    raise DataError(
        f"{root} is in neither supported layout. Expected either MVTec AD "
        "(train/good/*.png, test/<defect>/*.png, ground_truth/<defect>/<name>_mask.png), "
        "or one subfolder per defect type holding images with <name>_mask.png beside them "
        "(or in a masks/ subfolder) and defect-free images in good/."
    )


def index_folder(
    root: str | Path,
    layout: Layout = "auto",
    defects: Sequence[str] | None = None,
    product: str | None = None,
) -> DatasetIndex:
    """Index a dataset folder; see the module docstring for the layouts.

    ``defects`` keeps only those defect types (plus ``good``); ``product`` keeps one product of a
    multi-product MVTec folder. Raises DataError on any bad input, naming the file and the fix.
    """
    root_path = Path(root).expanduser().resolve()
    if not root_path.is_dir():
        raise DataError(f"dataset folder {root_path} does not exist or is not a folder.")
    if layout not in ("auto", "mvtec", "generic"):
        raise DataError(f"layout must be 'auto', 'mvtec' or 'generic', got {layout!r}.")
    detected, folders = _detect_layout(root_path) if layout != "generic" else ("generic", [root_path])
    if layout == "mvtec" and detected != "mvtec":
        raise DataError(f"{root_path} is not in the MVTec AD layout (no train/ or test/ folder).")
    if product is not None:
        names = [f.name for f in folders]
        if product not in names:
            raise DataError(f"product {product!r} not found in {root_path}; available: {names}.")
        folders = [f for f in folders if f.name == product]
    skipped: list[tuple[Path, str]] = []
    samples: list[Sample] = []
    for folder in folders:
        if detected == "mvtec":
            samples += _index_mvtec_product(folder, defects, skipped)
        else:
            samples += _index_generic(folder, defects, skipped)
    if not samples:
        raise DataError(f"no images found in {root_path}.")
    for path, reason in skipped:
        logger.warning("skipped %s: %s", path, reason)
    return DatasetIndex(root_path, detected, samples, skipped)


def load_sample_arrays(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """Image (HWC uint8 RGB) and mask (HW uint8 {0,1}; zeros for good images) of one row."""
    image = read_image(sample.image)
    if sample.mask is None:
        return image, np.zeros(image.shape[:2], dtype=np.uint8)
    return image, read_mask(sample.mask)


__all__ = ["GOOD", "DatasetIndex", "Sample", "index_folder", "load_sample_arrays"]
