"""Where synthetic defects come from, behind one call: `open_source(path)`.

It looks at the folder once: a bank (``manifest.jsonl``, as written by ``defect-synth generate``
or ``export``) pastes its stored defects (`BankSource`); a saved synthesizer (``config.json``)
paints new ones (`SynthesizerSource`); a dataset folder copy-pastes its own few shots (first
third of each defect type: `CopyPasteSource`). Every source is fingerprinted and honours one
contract (`DefectSource`): ``make`` puts one defect into one image, or returns None when it cannot
(a DataLoader worker must not die of it); ``draw`` gives ``n`` pairs per defect type. Sources are
loaded once per process and cached, so a transform or dataset holding only the path stays cheap
to pickle into DataLoader workers.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from augment.data.index import index_folder
from augment.data.pairs import SyntheticPair
from augment.data.split import make_split
from augment.errors import DataError, TooFewPairsError
from augment.files import CONFIG, MANIFEST
from augment.loaders.copy_paste import BankSource, CopyPasteSource
from augment.synth.io import saved_fingerprint
from augment.synth.synthesizer import DefectSynthesizer

__all__ = [
    "BankSource",
    "CopyPasteSource",
    "DefectSource",
    "SynthesizerSource",
    "check_defects",
    "open_source",
]

logger = logging.getLogger(__name__)


class DefectSource(Protocol):
    """Anything that puts a defect of a chosen type into an image, seeded."""

    kind: str  # "bank", "synthesizer" or "copy-paste"
    origin: str  # the folder (or description) it was opened from
    fingerprint: str  # changes whenever what it makes could change
    defects: list[str]

    def make(self, image: np.ndarray | None, defect: str, strength: float, seed: int) -> SyntheticPair | None:
        """A pair with `defect` in `image` (a stored/fitted image when None); None if it could not."""
        ...

    def draw(
        self, per_defect: Mapping[str, int], images: Sequence[np.ndarray], seed: int, progress: bool = True
    ) -> list[SyntheticPair]:
        """``per_defect[d]`` pairs of each defect type, into ``images`` where the source paints."""
        ...


def describe(source: DefectSource) -> dict[str, str]:
    """What a result record says about the source it used."""
    return {"kind": source.kind, "path": source.origin, "fingerprint": source.fingerprint}


def check_defects(available: Sequence[str], wanted: Sequence[str] | None, source: str) -> None:
    """Raise DataError when a requested defect type is not in the source."""
    missing = [d for d in wanted or () if d not in available]
    if missing:
        raise DataError(f"defect type(s) {missing} not in {source}; it has {sorted(available)}.")


class SynthesizerSource:
    """A saved `DefectSynthesizer`, painting new pairs (online mode)."""

    kind = "synthesizer"

    def __init__(self, root: str | Path, device: str | None = None, dtype: str | None = None) -> None:
        self.root = Path(root)
        self.origin = str(self.root)
        self.synthesizer = DefectSynthesizer.from_pretrained(self.root, device=device, dtype=dtype)
        self.defects = list(self.synthesizer.defects)
        config = (self.root / CONFIG).read_text()
        self.fingerprint = (
            saved_fingerprint(self.root)
            or hashlib.sha256(json.dumps(json.loads(config), sort_keys=True).encode()).hexdigest()[:16]
        )

    def make(self, image: np.ndarray | None, defect: str, strength: float, seed: int) -> SyntheticPair | None:
        """One inpainted pair; None when the quality filter rejected every attempt."""
        images = None if image is None else [image]
        try:
            pairs = self.synthesizer.inpaint(
                1, defect=defect, images=images, strength=strength, generator=seed, progress=False
            )
        except TooFewPairsError as exc:
            logger.debug("%s: no %s pair for seed %d: %s", self.root, defect, seed, exc)
            return None
        return pairs[0]

    def draw(
        self, per_defect: Mapping[str, int], images: Sequence[np.ndarray], seed: int, progress: bool = True
    ) -> list[SyntheticPair]:
        """``per_defect[d]`` pairs of each type painted into ``images`` (type k seeded ``seed + k``)."""
        out = []
        for k, (defect, n) in enumerate(sorted(per_defect.items())):
            out += self.synthesizer.generate(
                n, defect=defect, images=list(images), generator=seed + k, progress=progress
            )
        return out


def _dataset_source(root: Path) -> CopyPasteSource:
    """The few shots (first third of each defect type) of the dataset at ``root``, to copy-paste."""
    try:
        split = make_split(index_folder(root))
    except DataError as exc:
        raise DataError(
            f"{root} is neither a bank of pairs ({MANIFEST}), nor a saved synthesizer ({CONFIG}), nor "
            f"a dataset to copy-paste from ({exc}). Pass the output folder of 'defect-synth "
            "generate'/'export' or of 'defect-synth fit', or a dataset folder."
        ) from exc
    source = CopyPasteSource.from_split(split)
    source.prepare_variants()
    return source


@functools.lru_cache(maxsize=8)
def _open_cached(path: str, pid: int, device: str | None, dtype: str | None) -> DefectSource:
    root = Path(path)
    if (root / MANIFEST).is_file():
        return BankSource(root)
    if (root / CONFIG).is_file():
        return SynthesizerSource(root, device, dtype)
    return _dataset_source(root)


@functools.lru_cache(maxsize=64)
def _resolve(path: str) -> str:
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"defect source {root} does not exist or is not a folder.")
    return str(root)


def open_source(path: str | Path, device: str | None = None, dtype: str | None = None) -> DefectSource:
    """The bank, synthesizer or dataset at `path`, loaded once per process (cached by path and pid);
    a synthesizer runs on ``device`` in ``dtype`` (``DefectSynthesizer.to``; default: as saved)."""
    return _open_cached(_resolve(str(path)), os.getpid(), device, dtype)
