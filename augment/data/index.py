"""Index a dataset folder into rows of (image, mask, defect type, product, split).

Two layouts are read:

* **MVTec AD**: ``<product>/train/good``, ``<product>/test/good``, ``<product>/test/<defect>``,
  ``<product>/ground_truth/<defect>/<stem>_mask.png``. The root may be one product folder or a
  folder of product folders.
* **generic**: one subfolder per defect type (``good`` for defect-free images), masks either
  beside their image as ``<stem>_mask.png`` or in a ``masks/`` subfolder as ``<stem>.png`` or
  ``<stem>_mask.png``. The product is the root folder's name; the split is ``all``.

`index_folder` is a pure function of the folder; it decodes every image and mask it lists once
(`augment.data.verify`: readable, mask present, same size, binary, non-empty) so that later steps
can trust the rows, and reports every problem in one error, grouped by reason with the fix. With
``skip_invalid=True`` it goes on without those files and lists them in ``DatasetIndex.invalid``.
Files it does not use (non-images, masks without an image) are listed in ``DatasetIndex.skipped``
with the reason. Nothing is dropped silently: both lists are logged and reported by the commands.

The scale of 16-bit images is decided once for the dataset (``bit_depth``, see
`augment.data.verify.dataset_bit_depth`) and carried by every row, so all of them read alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from augment.data.imageio import IMAGE_SUFFIXES, ImageInfo, is_image_file, read_image, read_mask
from augment.data.verify import Invalid, check_pair, dataset_bit_depth, invalid_report
from augment.errors import DataError, InvalidFilesError
from augment.files import YOLO

logger = logging.getLogger(__name__)

GOOD = "good"
MVTEC_SPLITS = ("train", "test")
MASK_SUFFIX = "_mask"
Layout = Literal["auto", "mvtec", "generic"]


@dataclass(frozen=True)
class Sample:
    """One row of the index. ``mask`` is None for defect-free (``good``) images; ``bit_depth`` is
    the dataset's scale for 16-bit files (None: the file's own, see `augment.data.imageio`)."""

    image: Path
    mask: Path | None
    defect: str
    product: str
    split: str
    bit_depth: int | None = None

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
    """All rows of a dataset folder, the files that were not used and why, and the invalid files
    left out under ``skip_invalid=True``."""

    root: Path
    layout: str
    samples: list[Sample]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    invalid: list[Invalid] = field(default_factory=list)
    bit_depth: int | None = None

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
            "bit_depth": self.bit_depth,
            "skipped": [{"path": str(p), "reason": r} for p, r in self.skipped],
            "invalid": [i.to_record() for i in self.invalid],
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


def _find_mask(candidates: Sequence[Path]) -> Path | None:
    return next((c for c in candidates if is_image_file(c)), None)


def _mask_candidates(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}{suffix}{ext}" for suffix in (MASK_SUFFIX, "") for ext in sorted(IMAGE_SUFFIXES)]


def _is_mvtec_product(folder: Path) -> bool:
    return any((folder / s).is_dir() for s in MVTEC_SPLITS)


def _missing_mask(image: Path, expected: str) -> Invalid:
    return Invalid(image, "missing mask", f"defect image {image} has no mask: expected {expected}.")


def _index_mvtec_product(
    folder: Path, wanted: Sequence[str] | None, skipped: list[tuple[Path, str]], invalid: list[Invalid]
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
                        invalid.append(
                            _missing_mask(image, str(gt / defect / f"{image.stem}{MASK_SUFFIX}.png"))
                        )
                        continue
                    used_masks.add(mask)
                samples.append(Sample(image, mask, defect, product, split))
    if gt.is_dir():
        for mask_file in sorted(gt.rglob("*")):
            unused = mask_file.is_file() and mask_file not in used_masks
            if unused and (wanted is None or mask_file.parent.name in wanted):
                skipped.append((mask_file, "mask with no matching image"))
    _check_defects(available - {GOOD}, wanted, folder)
    return samples


def _index_generic(
    root: Path, wanted: Sequence[str] | None, skipped: list[tuple[Path, str]], invalid: list[Invalid]
) -> list[Sample]:
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
                expected = (
                    f"{type_dir / (image.stem + MASK_SUFFIX + '.png')} or {masks_dir / (image.stem + '.png')}"
                )
                invalid.append(_missing_mask(image, expected))
                continue
            else:
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


def _verified(samples: Sequence[Sample], invalid: list[Invalid]) -> tuple[list[Sample], list[ImageInfo]]:
    """The rows whose image and mask decode and agree (`augment.data.verify`); problems go to ``invalid``."""
    kept, infos = [], []
    for sample in samples:
        info, problem = check_pair(sample.image, sample.mask)
        if problem is not None:
            invalid.append(problem)
        elif info is not None:
            kept.append(sample)
            infos.append(info)
    return kept, infos


def index_folder(
    root: str | Path,
    layout: Layout = "auto",
    defects: Sequence[str] | None = None,
    product: str | None = None,
    skip_invalid: bool = False,
    bit_depth: int | None = None,
) -> DatasetIndex:
    """Index a dataset folder; see the module docstring for the layouts.

    ``defects`` keeps only those defect types (plus ``good``); ``product`` keeps one product of a
    multi-product MVTec folder. Every file is decoded once; invalid files raise one DataError
    naming all of them, grouped by reason with the fix, unless ``skip_invalid=True``, which leaves
    them out and lists them in ``DatasetIndex.invalid``. ``bit_depth`` (8 to 16) sets the scale of
    16-bit images; None decides it from the data (`augment.data.verify.dataset_bit_depth`).
    """
    root_path = Path(root).expanduser().resolve()
    if not root_path.is_dir():
        raise DataError(f"dataset folder {root_path} does not exist or is not a folder.")
    if layout not in ("auto", "mvtec", "generic"):
        raise DataError(f"layout must be 'auto', 'mvtec' or 'generic', got {layout!r}.")
    if bit_depth is not None and (isinstance(bit_depth, bool) or bit_depth not in range(8, 17)):
        raise DataError(
            f"bit_depth must be an integer from 8 to 16 or None (decided from the data), got {bit_depth!r}."
        )
    detected, folders = _detect_layout(root_path) if layout != "generic" else ("generic", [root_path])
    if layout == "mvtec" and detected != "mvtec":
        raise DataError(f"{root_path} is not in the MVTec AD layout (no train/ or test/ folder).")
    if product is not None:
        names = [f.name for f in folders]
        if product not in names:
            raise DataError(f"product {product!r} not found in {root_path}; available: {names}.")
        folders = [f for f in folders if f.name == product]
    skipped: list[tuple[Path, str]] = []
    invalid: list[Invalid] = []
    listed: list[Sample] = []
    for folder in folders:
        if detected == "mvtec":
            listed += _index_mvtec_product(folder, defects, skipped, invalid)
        else:
            listed += _index_generic(folder, defects, skipped, invalid)
    samples, infos = _verified(listed, invalid)
    if invalid and not skip_invalid:
        raise InvalidFilesError(invalid_report(invalid, root_path, "pass skip_invalid=True"))
    if not samples:
        raise DataError(f"no usable images found in {root_path}.")
    depth = dataset_bit_depth(infos, bit_depth)
    for path, reason in skipped:
        logger.warning("skipped %s: %s", path, reason)
    for item in invalid:
        logger.warning("skipped invalid %s (%s): %s", item.path, item.reason, item.detail)
    rows = [replace(s, bit_depth=depth) for s in samples]
    return DatasetIndex(root_path, detected, rows, skipped, invalid, depth)


def load_sample_arrays(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """Image (HWC uint8 RGB) and mask (HW uint8 {0,1}; zeros for good images) of one row."""
    image = read_image(sample.image, sample.bit_depth)
    if sample.mask is None:
        return image, np.zeros(image.shape[:2], dtype=np.uint8)
    return image, read_mask(sample.mask)


__all__ = ["GOOD", "DatasetIndex", "Sample", "index_folder", "load_sample_arrays"]
