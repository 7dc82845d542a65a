"""Where synthetic defects come from, behind one call: a bank of stored pairs, or a synthesizer.

`open_source(path)` looks at the folder: a bank (``manifest.jsonl``, as written by
``defect-synth generate`` or ``export``) pastes a stored defect into the image at a valid place; a
saved synthesizer (``config.json``) paints a new one with ``DefectSynthesizer.generate``. Sources
are loaded once per process and cached, so a transform or dataset holding only the path stays
cheap to pickle into DataLoader workers.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from augment.data.pairs import SyntheticPair, iter_bank
from augment.errors import DataError
from augment.files import CONFIG, MANIFEST
from augment.masks.foreground import loader_foreground
from augment.masks.geometry import DEFAULT_MAX_ROTATION
from augment.masks.paste import DEFAULT_SCALE_RANGE, Warped, cut_defect, paste_patch, transform_patch

logger = logging.getLogger(__name__)

PASTE_TRIES = 4
# A bank pastes each stored defect in one of this many fixed random warps (scale, rotation
# jitter, flips), prepared when the bank is opened and kept up to the byte budget per process
# (beyond it, prepared on use and evicted oldest first): the warp was a third of a paste's cost
# in data loaders. Position and strength still vary at every call.
BANK_VARIANTS = 16
VARIANT_CACHE_BYTES = 64 * 2**20


class DefectSource(Protocol):
    """Anything that puts a defect of a chosen type into an image, seeded."""

    defects: list[str]

    def make(self, image: np.ndarray | None, defect: str, strength: float, seed: int) -> SyntheticPair | None:
        """A pair with `defect` in `image` (a stored/fitted image when None); None if it could not."""
        ...


def pick_defect(defects: Sequence[str], wanted: Sequence[str] | None, rng: np.random.Generator) -> str:
    """One defect type among `wanted` (all of the source's when None), uniformly."""
    pool = list(wanted) if wanted else list(defects)
    return pool[int(rng.integers(len(pool)))]


def check_defects(available: Sequence[str], wanted: Sequence[str] | None, source: str) -> None:
    """Raise DataError when a requested defect type is not in the source."""
    missing = [d for d in wanted or () if d not in available]
    if missing:
        raise DataError(f"defect type(s) {missing} not in {source}; it has {sorted(available)}.")


class BankSource:
    """Stored pairs, held in memory; `make` pastes one into the given image inside its foreground.

    Each pair's defect patch is cut once, when the bank is opened (once per process), and used
    in one of `BANK_VARIANTS` seeded warps, each prepared once, so a call costs a cached
    foreground lookup, a placement and a blend inside the patch box.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.pairs: dict[str, list[SyntheticPair]] = {}
        for pair in iter_bank(self.root):
            if pair.mask.any():
                self.pairs.setdefault(str(pair.record["defect"]), []).append(pair)
        if not self.pairs:
            raise DataError(
                f"bank {self.root} holds no complete pair with a defect; regenerate it with "
                "'defect-synth generate'."
            )
        self.defects = sorted(self.pairs)
        self._flat = [p for d in self.defects for p in self.pairs[d]]
        self._foregrounds: dict[bytes, np.ndarray] = {}
        self._patches = {d: [cut_defect(p.image, p.mask > 0) for p in self.pairs[d]] for d in self.defects}
        self._variants: dict[tuple[str, int, int], Warped | None] = {}
        self._variant_bytes = 0
        self._unplaced: set[str] = set()
        self._prepare_variants()

    def __len__(self) -> int:
        return len(self._flat)

    def stored(self, i: int) -> SyntheticPair:
        """The i-th stored pair, in (defect, manifest) order."""
        return self._flat[i % len(self._flat)]

    def _prepare_variants(self) -> None:
        """Warp the stored defects ahead of use, up to half the budget (the rest is for use)."""
        keys = (
            (defect, k, v)
            for defect in self.defects
            for k in range(len(self._patches[defect]))
            for v in range(BANK_VARIANTS)
        )
        for key in keys:
            if self._variant_bytes >= VARIANT_CACHE_BYTES // 2:
                break
            self.variant(*key)

    def variant(self, defect: str, k: int, v: int) -> Warped | None:
        """Warp `v` of the `k`-th stored `defect`: a pure function of (defect, k, v), memoised."""
        key = (defect, k, v)
        if key not in self._variants:
            rng = np.random.default_rng([self.defects.index(defect), k, v])
            warped = transform_patch(self._patches[defect][k], rng, DEFAULT_SCALE_RANGE, DEFAULT_MAX_ROTATION)
            size = 0 if warped is None else warped.nbytes
            while self._variants and self._variant_bytes + size > VARIANT_CACHE_BYTES:
                old = self._variants.pop(next(iter(self._variants)))
                self._variant_bytes -= 0 if old is None else old.nbytes
            self._variants[key] = warped
            self._variant_bytes += size
        return self._variants[key]

    def make(self, image: np.ndarray | None, defect: str, strength: float, seed: int) -> SyntheticPair | None:
        rng = np.random.default_rng(seed)
        candidates = self.pairs[defect]
        if image is None:
            return candidates[int(rng.integers(len(candidates)))]
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"a bank pastes into HWC uint8 RGB images, got shape {image.shape} {image.dtype}; "
                "put DefectAugment before any normalisation or tensor conversion."
            )
        foreground = loader_foreground(image, self._foregrounds)
        for _ in range(PASTE_TRIES):
            k, v = divmod(int(rng.integers(len(candidates) * BANK_VARIANTS)), BANK_VARIANTS)
            warped = self.variant(defect, k, v)
            pasted = (
                None if warped is None else paste_patch(image, warped, rng, foreground, strength=strength)
            )
            if pasted is not None:
                record = {
                    "source": "bank",
                    "bank": str(self.root),
                    "donor": candidates[k].record.get("name", ""),
                    "defect": defect,
                    "strength": strength,
                    "seed": seed,
                    "mask_source": "bank",
                }
                return SyntheticPair(pasted[0], pasted[1], record)
        if defect not in self._unplaced:  # once per defect type and process: loaders call this a lot
            self._unplaced.add(defect)
            logger.warning(
                "bank %s: no stored %s defect fits on the object of a %s image after %d tries; such "
                "samples stay without a synthetic defect (further misses are not logged)",
                self.root,
                defect,
                "x".join(map(str, image.shape[:2])),
                PASTE_TRIES,
            )
        return None


class SynthesizerSource:
    """A saved `DefectSynthesizer`, generating one pair per call (online mode)."""

    def __init__(self, root: str | Path) -> None:
        from augment.synth.synthesizer import DefectSynthesizer

        self.root = Path(root)
        self.synthesizer = DefectSynthesizer.from_pretrained(self.root)
        self.defects = list(self.synthesizer.defects)

    def make(
        self, image: np.ndarray | None, defect: str, strength: float, seed: int, **generate_kwargs: Any
    ) -> SyntheticPair | None:
        images = None if image is None else [image]
        pairs = self.synthesizer.generate(
            1,
            defect=defect,
            images=images,
            strength=strength,
            generator=seed,
            progress=False,
            **generate_kwargs,
        )
        return pairs[0] if pairs else None


@functools.lru_cache(maxsize=8)
def _open_cached(path: str, pid: int) -> DefectSource:
    root = Path(path)
    if (root / MANIFEST).is_file():
        return BankSource(root)
    if (root / CONFIG).is_file():
        return SynthesizerSource(root)
    raise DataError(
        f"{root} is neither a bank of pairs ({MANIFEST}) nor a saved synthesizer ({CONFIG}). "
        "Pass the output folder of 'defect-synth generate'/'export' or of 'defect-synth fit'."
    )


@functools.lru_cache(maxsize=64)
def _resolve(path: str) -> str:
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"defect source {root} does not exist or is not a folder.")
    return str(root)


def open_source(path: str | Path) -> DefectSource:
    """The bank or synthesizer at `path`, loaded once per process (cached by path and pid)."""
    return _open_cached(_resolve(str(path)), os.getpid())


__all__ = [
    "BankSource",
    "DefectSource",
    "SynthesizerSource",
    "check_defects",
    "open_source",
    "pick_defect",
]
