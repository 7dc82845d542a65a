"""Turn a folder given to ``defect-synth evaluate`` into image (and mask) files per defect type.

Three kinds of folder are read, tried in this order:

* a **bank** of synthetic pairs (``manifest.jsonl`` at the root, see augment/data/pairs.py);
* a **dataset** in the MVTec or generic layout (augment/data/index.py): its defect images, ``good`` excluded;
* a **plain folder** of images (searched recursively): one group called ``all``, no masks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from augment.data.imageio import is_image_file
from augment.data.index import Sample, index_folder
from augment.data.pairs import read_manifest
from augment.errors import DataError, InvalidFilesError
from augment.files import MANIFEST

ALL = "all"


@dataclass
class ImageSet:
    """Image files grouped by defect type, with mask files where the source has them."""

    root: Path
    kind: str
    images: dict[str, list[Path]]
    masks: dict[str, list[Path]] = field(default_factory=dict)
    bit_depth: int | None = None  # a dataset's scale of its 16-bit images (augment.data.index)

    def files(self, defect: str | None = None) -> list[Path]:
        """Images of one defect type, or of all types (sorted by type) when ``defect`` is None."""
        if defect is None:
            return [p for d in sorted(self.images) for p in self.images[d]]
        return list(self.images.get(defect, []))

    def mask_files(self, defect: str | None = None) -> list[Path]:
        if defect is None:
            return [p for d in sorted(self.masks) for p in self.masks[d]]
        return list(self.masks.get(defect, []))

    def summary(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "kind": self.kind,
            "counts": {d: len(v) for d, v in sorted(self.images.items())},
        }


def _from_bank(root: Path) -> ImageSet:
    images: dict[str, list[Path]] = defaultdict(list)
    masks: dict[str, list[Path]] = defaultdict(list)
    for rec in read_manifest(root):
        images[rec["defect"]].append(root / rec["image"])
        masks[rec["defect"]].append(root / rec["mask"])
    return ImageSet(root, "bank", dict(images), dict(masks))


def _from_plain(root: Path) -> ImageSet:
    files = sorted(p for p in root.rglob("*") if is_image_file(p) and not p.stem.endswith("_mask"))
    return ImageSet(root, "folder", {ALL: files} if files else {})


def image_set_from_samples(samples: Iterable[Sample], root: str | Path, kind: str) -> ImageSet:
    """An `ImageSet` of index rows with masks (e.g. a split's shots or test defects), grouped by type."""
    images: dict[str, list[Path]] = defaultdict(list)
    masks: dict[str, list[Path]] = defaultdict(list)
    samples = list(samples)
    for s in samples:
        if s.is_good or s.mask is None:
            continue
        images[s.defect].append(s.image)
        masks[s.defect].append(s.mask)
    if not images:
        raise DataError(f"no defect images among the rows given for {kind}.")
    depth = next((s.bit_depth for s in samples if s.bit_depth is not None), None)
    return ImageSet(Path(root), kind, dict(images), dict(masks), depth)


def _from_dataset(root: Path, skip_invalid: bool) -> ImageSet:
    """The defect images of the dataset at ``root``; invalid files stop it when the folder is a
    dataset (some defect image has its mask), not when no image has one (a plain folder)."""
    try:
        index = index_folder(root, skip_invalid=skip_invalid)
    except InvalidFilesError:
        if any(not s.is_good for s in index_folder(root, skip_invalid=True).samples):
            raise
        raise DataError(f"{root} has no defect image with a mask: not a dataset") from None
    return image_set_from_samples(
        sorted(index.samples, key=lambda s: s.image), root, f"dataset ({index.layout})"
    )


def load_image_set(
    root: str | Path, defects: Sequence[str] | None = None, skip_invalid: bool = False
) -> ImageSet:
    """Read a bank, dataset or plain folder into an `ImageSet`, keeping only ``defects`` when given.

    A dataset with invalid files is refused (never read as a plain folder instead), unless
    ``skip_invalid=True`` leaves them out (``index_folder``).
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(
            f"{root} does not exist or is not a folder; give a bank, a dataset or a folder of images."
        )
    if (root / MANIFEST).is_file():
        image_set = _from_bank(root)
    else:
        try:
            image_set = _from_dataset(root, skip_invalid)
        except InvalidFilesError:
            raise
        except DataError:
            image_set = _from_plain(root)
        if not image_set.images:
            image_set = _from_plain(root)
    if defects:
        image_set.images = {d: v for d, v in image_set.images.items() if d in defects}
        image_set.masks = {d: v for d, v in image_set.masks.items() if d in defects}
    if not image_set.images:
        wanted = f" of types {list(defects)}" if defects else ""
        raise DataError(f"no images{wanted} found in {root} (read as {image_set.kind}).")
    return image_set


__all__ = ["ALL", "ImageSet", "image_set_from_samples", "load_image_set"]
