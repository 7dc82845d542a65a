"""Where synthetic defects come from, behind one call: a bank of stored pairs, or a synthesizer.

`open_source(path)` looks at the folder: a bank (``manifest.jsonl``, as written by
``defect-synth generate`` or ``export``) pastes a stored defect into the image at a valid place; a
saved synthesizer (``config.json``) paints a new one with ``DefectSynthesizer.generate``. Sources
are loaded once per process and cached, so a transform or dataset holding only the path stays
cheap to pickle into DataLoader workers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from augment.imageio import DataError
from augment.masks import estimate_foreground
from augment.pairs import MANIFEST, SyntheticPair, iter_bank
from augment.paste import paste_defect

PASTE_TRIES = 4


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


def blend_strength(target: np.ndarray, image: np.ndarray, strength: float) -> np.ndarray:
    """`target` moved `strength` of the way towards `image` (1: the defect at full strength)."""
    if strength >= 1.0:
        return image
    out = target.astype(np.float32) + strength * (image.astype(np.float32) - target.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class BankSource:
    """Stored pairs, held in memory; `make` pastes one into the given image inside its foreground."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.pairs: dict[str, list[SyntheticPair]] = {}
        for pair in iter_bank(self.root):
            self.pairs.setdefault(str(pair.record["defect"]), []).append(pair)
        if not self.pairs:
            raise DataError(
                f"bank {self.root} holds no complete pair; regenerate it with 'defect-synth generate'."
            )
        self.defects = sorted(self.pairs)
        self._flat = [p for d in self.defects for p in self.pairs[d]]

    def __len__(self) -> int:
        return len(self._flat)

    def stored(self, i: int) -> SyntheticPair:
        """The i-th stored pair, in (defect, manifest) order."""
        return self._flat[i % len(self._flat)]

    def make(self, image: np.ndarray | None, defect: str, strength: float, seed: int) -> SyntheticPair | None:
        rng = np.random.default_rng(seed)
        candidates = self.pairs[defect]
        if image is None:
            return candidates[int(rng.integers(len(candidates)))]
        foreground = estimate_foreground(image)
        for _ in range(PASTE_TRIES):
            donor = candidates[int(rng.integers(len(candidates)))]
            pasted = paste_defect(image, donor.image, donor.mask, rng, foreground)
            if pasted is not None:
                record = {
                    "source": "bank",
                    "bank": str(self.root),
                    "donor": donor.record.get("name", ""),
                    "defect": defect,
                    "strength": strength,
                    "seed": seed,
                    "mask_source": "bank",
                }
                return SyntheticPair(blend_strength(image, pasted[0], strength), pasted[1], record)
        return None


class SynthesizerSource:
    """A saved `DefectSynthesizer`, generating one pair per call (online mode)."""

    def __init__(self, root: str | Path) -> None:
        from augment.synthesizer import DefectSynthesizer

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
    if (root / "config.json").is_file():
        return SynthesizerSource(root)
    raise DataError(
        f"{root} is neither a bank of pairs ({MANIFEST}) nor a saved synthesizer (config.json). "
        "Pass the output folder of 'defect-synth generate'/'export' or of 'defect-synth fit'."
    )


def open_source(path: str | Path) -> DefectSource:
    """The bank or synthesizer at `path`, loaded once per process (cached by path and pid)."""
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"defect source {root} does not exist or is not a folder.")
    return _open_cached(str(root), os.getpid())


__all__ = [
    "BankSource",
    "DefectSource",
    "SynthesizerSource",
    "blend_strength",
    "check_defects",
    "open_source",
    "pick_defect",
]
