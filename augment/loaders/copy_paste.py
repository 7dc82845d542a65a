"""Copy-paste of stored defects: the one place where pasted pairs are made.

A `CopyPasteSource` holds (image, mask, defect) shots (the real few shots of a dataset, the
benchmark's resized shots, or a bank's stored pairs: `BankSource`) with each defect patch cut once
(`augment.masks.paste.cut_defect`). Its three users differ only in how they choose targets:

* `make` (data loaders: `DefectAugment`, the torch wrappers, export): one paste into the given
  image, from one of `VARIANTS` seeded warps per shot prepared once per process, on a coarse cached
  foreground, so a call costs a lookup, a placement and a blend inside the patch box;
* `draw` (the benchmark's copy-paste arm, a bank's draw without replacement): ``n`` pairs per
  defect type into random defect-free images;
* `paste` (`augment.loaders.paste_bank`): one shot into one target with the caller's generator.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from augment.data.imageio import read_image, read_mask
from augment.data.pairs import SyntheticPair, iter_bank, read_manifest
from augment.data.split import FewShotSplit
from augment.errors import DataError
from augment.files import MANIFEST
from augment.masks.foreground import estimate_foreground, loader_foreground
from augment.masks.geometry import DEFAULT_MAX_ROTATION
from augment.masks.paste import (
    DEFAULT_SCALE_RANGE,
    Blend,
    Patch,
    Warped,
    cut_defect,
    paste_patch,
    transform_patch,
)

__all__ = ["PASTE_TRIES", "VARIANTS", "VARIANT_CACHE_BYTES", "BankSource", "CopyPasteSource", "Shot"]

logger = logging.getLogger(__name__)

Shot = tuple[np.ndarray, np.ndarray, str]  # image (HWC uint8), mask (HW {0,1}), defect type
PASTE_TRIES = 4  # placements a loader paste tries before it gives up (None: no defect this time)
MAX_TRIES_PER_PAIR = 20  # draw: target images tried per pair asked
# Each stored defect is pasted in one of this many fixed random warps (scale, rotation jitter,
# flips), prepared when the source is opened and kept up to the byte budget per process (beyond
# it, prepared on use and evicted oldest first): the warp was a third of a paste's cost in data
# loaders. Position and strength still vary at every call.
VARIANTS = 16
VARIANT_CACHE_BYTES = 64 * 2**20


class CopyPasteSource:
    """Stored defects pasted into images, on the object, seeded; see the module docstring."""

    kind = "copy-paste"

    def __init__(self, pairs: Sequence[SyntheticPair], origin: str, fingerprint: str) -> None:
        self.origin, self.fingerprint = origin, fingerprint
        self.pairs: dict[str, list[SyntheticPair]] = {}
        for pair in pairs:
            if pair.mask.any():
                self.pairs.setdefault(str(pair.record["defect"]), []).append(pair)
        if not self.pairs:
            raise DataError(f"{origin} holds no pair with a defect pixel to paste.")
        self.defects = sorted(self.pairs)
        self._flat = [p for d in self.defects for p in self.pairs[d]]
        self._patches = {d: [cut_defect(p.image, p.mask > 0) for p in self.pairs[d]] for d in self.defects}
        self._foregrounds: dict[bytes, np.ndarray] = {}
        self._variants: dict[tuple[str, int, int], Warped | None] = {}
        self._variant_bytes = 0
        self._unplaced: set[str] = set()

    @classmethod
    def from_shots(cls, shots: Sequence[Shot], origin: str = "shots") -> CopyPasteSource:
        """A source over in-memory shots, fingerprinted by their bytes."""
        digest = hashlib.sha256()
        for image, mask, defect in shots:
            digest.update(defect.encode() + image.tobytes() + np.asarray(mask, np.uint8).tobytes())
        pairs = [
            SyntheticPair(image, np.asarray(mask, np.uint8), {"defect": defect, "shot_index": k})
            for k, (image, mask, defect) in enumerate(shots)
        ]
        return cls(pairs, origin, digest.hexdigest()[:16])

    @classmethod
    def from_split(cls, split: FewShotSplit) -> CopyPasteSource:
        """A source over a split's few shots, fingerprinted by the dataset."""
        pairs = []
        for shot in split.shots:
            if shot.mask is None:
                continue
            record = {"defect": shot.defect, "shot": shot.image.name, "product": shot.product}
            pairs.append(SyntheticPair(read_image(shot.image, shot.bit_depth), read_mask(shot.mask), record))
        return cls(pairs, str(split.index.root), split.index.fingerprint())

    def __len__(self) -> int:
        return len(self._flat)

    def stored(self, i: int) -> SyntheticPair:
        """The i-th stored pair, in (defect, stored) order."""
        return self._flat[i % len(self._flat)]

    def patch(self, defect: str, k: int) -> Patch:
        """The cut patch of the ``k``-th stored ``defect``."""
        return self._patches[defect][k]

    def prepare_variants(self) -> None:
        """Warp the stored defects ahead of use, up to half the budget (the rest is for use).

        Done once where the source is opened for loaders, before DataLoader workers fork.
        """
        keys = (
            (defect, k, v)
            for defect in self.defects
            for k in range(len(self._patches[defect]))
            for v in range(VARIANTS)
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

    def _record(self, defect: str, k: int, strength: float, seed: int) -> dict[str, Any]:
        """The record of a loader paste of the ``k``-th stored ``defect``."""
        donor = self.pairs[defect][k].record
        return {
            "source": self.kind,
            "origin": self.origin,
            "donor": donor.get("shot", donor.get("shot_index", k)),
            "defect": defect,
            "strength": strength,
            "seed": seed,
            "mask_source": self.kind,
        }

    def make(self, image: np.ndarray | None, defect: str, strength: float, seed: int) -> SyntheticPair | None:
        """A pasted `defect` in `image` (a stored pair when None); None if none fits on the object."""
        rng = np.random.default_rng(seed)
        candidates = self.pairs[defect]
        if image is None:
            return candidates[int(rng.integers(len(candidates)))]
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"a {self.kind} source pastes into HWC uint8 RGB images, got shape {image.shape} "
                f"{image.dtype}; put DefectAugment before any normalisation or tensor conversion."
            )
        foreground = loader_foreground(image, self._foregrounds)
        for _ in range(PASTE_TRIES):
            k, v = divmod(int(rng.integers(len(candidates) * VARIANTS)), VARIANTS)
            warped = self.variant(defect, k, v)
            pasted = (
                None if warped is None else paste_patch(image, warped, rng, foreground, strength=strength)
            )
            if pasted is not None:
                return SyntheticPair(pasted[0], pasted[1], self._record(defect, k, strength, seed))
        self._report_unplaced(defect, image.shape[:2])
        return None

    def _report_unplaced(self, defect: str, shape: tuple[int, ...]) -> None:
        """Warn once per defect type and process (loaders call `make` a lot)."""
        if defect not in self._unplaced:
            self._unplaced.add(defect)
            logger.warning(
                "%s: no stored %s defect fits on the object of a %s image after %d tries; such "
                "samples stay without a synthetic defect (further misses are not logged)",
                self.origin,
                defect,
                "x".join(map(str, shape)),
                PASTE_TRIES,
            )

    def paste(
        self,
        target: np.ndarray,
        defect: str,
        k: int,
        rng: np.random.Generator,
        foreground: np.ndarray,
        strength: float = 1.0,
        blend: Blend = "feather",
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The ``k``-th stored ``defect`` warped and pasted into ``target`` with the caller's ``rng``
        (``blend``: feathered alpha, or Poisson cloning with "seamless")."""
        return paste_patch(target, self._patches[defect][k], rng, foreground, blend=blend, strength=strength)

    def draw(
        self, per_defect: Mapping[str, int], images: Sequence[np.ndarray], seed: int, progress: bool = True
    ) -> list[SyntheticPair]:
        """``per_defect[d]`` pastes of each type into random ``images``, on their foreground."""
        if not images:
            raise ValueError("copy-paste needs at least one defect-free image to paste into; got none.")
        rng = np.random.default_rng(seed)
        foregrounds: dict[int, np.ndarray] = {}
        out = []
        for defect, n in sorted(per_defect.items()):
            if defect not in self.pairs:
                raise ValueError(f"no shot of defect type {defect!r} to copy from; there are {self.defects}.")
            made = 0
            for _ in range(n * MAX_TRIES_PER_PAIR):
                if made >= n:
                    break
                g, s = int(rng.integers(len(images))), int(rng.integers(len(self.pairs[defect])))
                if g not in foregrounds:
                    foregrounds[g] = estimate_foreground(images[g])
                pasted = self.paste(images[g], defect, s, rng, foregrounds[g])
                if pasted is not None:
                    record = {"defect": defect, "good_index": g, "shot_index": s, "seed": seed}
                    out.append(SyntheticPair(pasted[0], pasted[1], record))
                    made += 1
            if made < n:
                logger.warning("copy-paste: only %d of %d %s pairs fitted", made, n, defect)
        return out


class BankSource(CopyPasteSource):
    """A bank of stored pairs (``manifest.jsonl``): pasted by `make`, drawn as they are by `draw`."""

    kind = "bank"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        digest = hashlib.sha256((self.root / MANIFEST).read_bytes()).hexdigest()[:16]
        try:
            super().__init__(list(iter_bank(self.root)), str(self.root), digest)
        except DataError:
            raise DataError(
                f"bank {self.root} holds no complete pair with a defect; regenerate it with "
                "'defect-synth generate'."
            ) from None
        self.skip: frozenset[str] = frozenset()
        self.prepare_variants()

    def without(self, names: Collection[str]) -> BankSource:
        """The same bank with the pairs called ``names`` left out of `draw` (and of its fingerprint)."""
        if not names:
            return self
        view = copy.copy(self)
        view.skip = frozenset(names)
        left = hashlib.sha256("\n".join(sorted(view.skip)).encode()).hexdigest()[:8]
        view.fingerprint = f"{self.fingerprint}-without-{left}"
        return view

    def _record(self, defect: str, k: int, strength: float, seed: int) -> dict[str, Any]:
        return {
            "source": "bank",
            "bank": str(self.root),
            "donor": self.pairs[defect][k].record.get("name", ""),
            "defect": defect,
            "strength": strength,
            "seed": seed,
            "mask_source": "bank",
        }

    def _drawable(self, records: Sequence[Mapping[str, Any]], defect: str) -> list[Mapping[str, Any]]:
        return [r for r in records if r.get("defect") == defect and r.get("name") not in self.skip]

    def counts(self) -> dict[str, int]:
        """How many stored pairs of each defect type `draw` can pick from (left-out pairs excluded)."""
        records = read_manifest(self.root)
        return {d: len(self._drawable(records, d)) for d in self.defects}

    def draw(
        self, per_defect: Mapping[str, int], images: Sequence[np.ndarray], seed: int, progress: bool = True
    ) -> list[SyntheticPair]:
        """``per_defect[d]`` stored pairs of each type, drawn without replacement (``images`` unused)."""
        records = read_manifest(self.root)
        rng = np.random.default_rng(seed)
        out = []
        for defect, n in sorted(per_defect.items()):
            rows = self._drawable(records, defect)
            if not rows and any(r.get("defect") == defect for r in records):
                raise DataError(
                    f"every {defect!r} pair of bank {self.root} was pasted from a shot that this split "
                    "does not train on; build a bank from this split's shots (defect-synth paste)."
                )
            if not rows:
                raise DataError(
                    f"bank {self.root} has no pairs of defect type {defect!r}; it has "
                    f"{sorted({str(r.get('defect')) for r in records})}. Generate that type first."
                )
            if len(rows) < n:
                logger.warning(
                    "bank has %d %s pairs, fewer than the %d asked; using all", len(rows), defect, n
                )
            for i in sorted(rng.choice(len(rows), size=min(n, len(rows)), replace=False).tolist()):
                rec = rows[i]
                image, mask = read_image(self.root / rec["image"]), read_mask(self.root / rec["mask"])
                out.append(SyntheticPair(image, mask, dict(rec)))
        return out
