"""The one sample format every way of using synthetic defects shares, and its on-disk bank.

A `SyntheticPair` is an image (HWC uint8), its defect mask (HW uint8 {0,1}) and a JSON-friendly
record (seed, prompt, defect, strength, source image, mask source, model fingerprint, ...).

A *bank* is a folder in the MVTec AD layout, so the project's reader and any MVTec loader read it:
``<product>/test/<defect>/<name>.png`` and ``<product>/ground_truth/<defect>/<name>_mask.png``,
plus ``manifest.jsonl`` at the root with one record per synthetic pair (its ``image`` and ``mask``
keys are paths relative to the root). Files are written to a temporary name and renamed, and the
manifest line is appended last, so a killed writer never leaves a pair that looks complete. Several
processes may append to one manifest at once (sharded generation and export); see `append_line`.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from augment.data.imageio import read_image, read_mask, write_png
from augment.data.outputs import writing
from augment.errors import DataError
from augment.files import MANIFEST


@dataclass
class SyntheticPair:
    """A generated (or pasted) defect image, its mask and how it was made."""

    image: np.ndarray
    mask: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"pair image must be HWC uint8 RGB, got shape {self.image.shape} {self.image.dtype}."
            )
        if self.mask.shape != self.image.shape[:2]:
            raise ValueError(f"pair mask shape {self.mask.shape} differs from image {self.image.shape[:2]}.")


def pair_paths(root: Path, product: str, defect: str, name: str) -> tuple[Path, Path]:
    """Where a pair called ``name`` lives in a bank (image path, mask path)."""
    base = root / product
    return base / "test" / defect / f"{name}.png", base / "ground_truth" / defect / f"{name}_mask.png"


def write_pair(root: str | Path, pair: SyntheticPair, name: str, product: str, defect: str) -> dict[str, Any]:
    """Write one pair into a bank and append its manifest line; returns the manifest record."""
    root = Path(root)
    image_path, mask_path = pair_paths(root, product, defect, name)
    write_png(image_path, pair.image)
    write_png(mask_path, pair.mask.astype(np.uint8))
    record = dict(pair.record) | {
        "name": name,
        "product": product,
        "defect": defect,
        "image": image_path.relative_to(root).as_posix(),
        "mask": mask_path.relative_to(root).as_posix(),
    }
    append_line(root / MANIFEST, json.dumps(record, default=str) + "\n")
    return record


def append_line(path: Path, line: str) -> None:
    """Append `line` to `path` durably, never interleaved with another process's appends.

    One ``os.write`` of the whole line on an ``O_APPEND`` descriptor (no buffered-IO chunking).
    POSIX promises untorn concurrent writes only to pipes, for up to PIPE_BUF (4 KB) bytes, and a
    record can be longer (long paths, prompts), so the write also holds an exclusive ``flock``
    (advisory: every writer of a manifest goes through here).
    """
    data = memoryview(line.encode("utf-8"))
    with writing(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            while data:  # a regular file takes it in one write; loop only in case of a short write
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)  # also releases the lock


def read_manifest(root: str | Path) -> list[dict[str, Any]]:
    """Records of a bank whose image and mask files both exist (a torn last line is ignored)."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise DataError(
            f"{root} is not a bank of synthetic pairs: {MANIFEST} is missing. "
            "Create one with 'defect-synth generate' or 'defect-synth export'."
        )
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (root / rec["image"]).is_file() and (root / rec["mask"]).is_file():
            records.append(rec)
    return records


def iter_bank(root: str | Path, defect: str | None = None) -> Iterator[SyntheticPair]:
    """Load the pairs of a bank, optionally of one defect type."""
    root = Path(root)
    for rec in read_manifest(root):
        if defect is None or rec["defect"] == defect:
            yield SyntheticPair(read_image(root / rec["image"]), read_mask(root / rec["mask"]), rec)
