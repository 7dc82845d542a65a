"""Strength sweep: one defect at increasing strength, same seed, written as a row weak -> strong.

Every image of the row uses the same seed, so the source image, the mask and the noise are shared
and only the strength (denoising strength and defect guidance; in text2img mode the defect scale
of double-free guidance) changes from one tile to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from augment.data.pairs import SyntheticPair
from augment.data.sheets import save_contact_sheet
from augment.synth.synthesizer import DefectSynthesizer

__all__ = ["DEFAULT_STRENGTHS", "strength_sweep"]

DEFAULT_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def strength_sweep(
    synth: DefectSynthesizer,
    out: str | Path,
    defect: str | None = None,
    strengths: Sequence[float] = DEFAULT_STRENGTHS,
    seed: int = 0,
    **generate_kwargs: Any,
) -> tuple[Path, list[SyntheticPair]]:
    """Generate one pair per strength (sorted weak -> strong) and write them as one row PNG at ``out``."""
    values = sorted(float(s) for s in strengths)
    if not values:
        raise ValueError("strengths is empty; pass e.g. (0.0, 0.25, 0.5, 0.75, 1.0)")
    if any(not 0.0 <= s <= 1.0 for s in values):
        raise ValueError(f"every strength must lie in [0, 1], got {values}")
    options = {"quality_filter": False, "progress": False} | generate_kwargs
    pairs = [synth.generate(1, defect=defect, strength=s, generator=seed, **options)[0] for s in values]
    tiles = [(pair.image, None, f"strength {s:g}") for pair, s in zip(pairs, values, strict=True)]
    return save_contact_sheet(out, tiles, columns=len(tiles)), pairs
