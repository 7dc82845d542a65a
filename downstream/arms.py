"""The extra defect pairs each benchmark arm adds to the real training set.

* ``real``: none (few shots + defect-free images only);
* ``synthetic``: pairs drawn from a source opened by ``augment.loaders.sources.open_source``: a
  bank / exported folder (``manifest.jsonl``), a saved ``DefectSynthesizer`` (``config.json``)
  painting into the defect-free training images, or a dataset's own shots copy-pasted;
* ``copy-paste``: real shot defects pasted with feathered blending at random places on the
  foreground of defect-free training images (``augment.loaders.copy_paste.CopyPasteSource``);
* ``procedural``: procedural masks (augment.masks.shapes.procedural_mask) painted as a darkening;
* ``perlin``: DRAEM-style anomalies (augment.masks.perlin.perlin_anomaly): Perlin-noise masks on
  the foreground of a defect-free training image, filled with texture cut from another one and
  blended; no real defect needed;
* ``synthetic-only``, ``copy-paste-only``, ``perlin-only``: the same pairs, but the training set holds no real defect
  image (defect-free training images + the pairs): what does the source alone teach the detector?

An arm is a source of pairs (``pair_source``: its name without ``-only``, or none for ``real``) and
whether the real shots are trained on (``uses_real_defects``); the protocol knows nothing else
about it. A new source is one entry in ``PAIR_MAKERS`` plus its names in ``ARMS``.

Every function takes explicit counts per defect type and a seed; same seed, same pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from augment.data.pairs import SyntheticPair
from augment.loaders.copy_paste import CopyPasteSource, Shot
from augment.loaders.sources import DefectSource
from augment.masks.foreground import ForegroundCache, estimate_foreground
from augment.masks.perlin import check_image, perlin_anomaly
from augment.masks.shapes import PROCEDURAL_KINDS, procedural_mask

__all__ = [
    "ARMS",
    "ONLY",
    "PAIR_MAKERS",
    "RIVALS",
    "PairInputs",
    "check_arms",
    "copy_paste_pairs",
    "paint_darkening",
    "pair_source",
    "perlin_pairs",
    "procedural_pairs",
    "synthetic_pairs",
    "uses_real_defects",
]

ARMS = (
    "real",
    "synthetic",
    "copy-paste",
    "procedural",
    "perlin",
    "synthetic-only",
    "copy-paste-only",
    "perlin-only",
)
ONLY = "-only"  # suffix of the arms trained without any real defect image
# Each model-made arm and the arm that pastes the same real shots instead: the second bar the model
# has to clear after real-only (a model that only redraws the shots adds nothing a paste does not).
RIVALS = {"synthetic": "copy-paste", "synthetic-only": "copy-paste-only"}


def check_arms(arms: Sequence[str], synthetic: str | Path | None) -> list[str]:
    """Validated arm names, in the given order; ``synthetic`` needs a source."""
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise ValueError(f"unknown or no arms {list(unknown) or list(arms)}; choose from {list(ARMS)}.")
    no_maker = sorted(
        {str(pair_source(a)) for a in arms if a != "real" and pair_source(a) not in PAIR_MAKERS}
    )
    if no_maker:
        raise ValueError(f"no pair maker for {no_maker}: add one to downstream.arms.PAIR_MAKERS.")
    if any(pair_source(a) == "synthetic" for a in arms) and synthetic is None:
        raise ValueError(
            "the 'synthetic' arm needs a source: pass synthetic=FOLDER (a bank, a saved synthesizer "
            "or a dataset), or leave 'synthetic' out of the arms."
        )
    return list(dict.fromkeys(arms))


def pair_source(arm: str) -> str | None:
    """The source of the arm's extra pairs (``copy-paste-only`` -> ``copy-paste``); None for ``real``."""
    return None if arm == "real" else arm.removesuffix(ONLY)


def uses_real_defects(arm: str) -> bool:
    """Whether the arm trains on the real shots (every arm but the ``-only`` ones)."""
    return not arm.endswith(ONLY)


def _tagged(pairs: Sequence[SyntheticPair], arm: str) -> list[SyntheticPair]:
    return [SyntheticPair(p.image, p.mask, p.record | {"arm": arm}) for p in pairs]


def synthetic_pairs(
    source: DefectSource,
    per_defect: Mapping[str, int],
    goods: Sequence[np.ndarray],
    seed: int,
    progress: bool = True,
) -> list[SyntheticPair]:
    """The synthetic arm's pairs: ``per_defect[d]`` of each type drawn from ``source``."""
    return _tagged(source.draw(per_defect, goods, seed, progress), "synthetic")


def copy_paste_pairs(
    shots: Sequence[Shot], goods: Sequence[np.ndarray], per_defect: Mapping[str, int], seed: int
) -> list[SyntheticPair]:
    """Real shot defects pasted into random defect-free images, on their estimated foreground."""
    return _tagged(CopyPasteSource.from_shots(shots).draw(per_defect, goods, seed), "copy-paste")


def paint_darkening(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darken the masked pixels by a random 30-70 %, with a softened edge."""
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)[..., None] * rng.uniform(0.3, 0.7)
    return np.clip(image.astype(np.float32) * (1 - alpha), 0, 255).astype(np.uint8)


def procedural_pairs(
    goods: Sequence[np.ndarray], per_defect: Mapping[str, int], seed: int
) -> list[SyntheticPair]:
    """Procedural masks (the defect's own kind when it is one of blob/scratch/crack) painted dark."""
    rng = np.random.default_rng(seed)
    out = []
    for defect, n in sorted(per_defect.items()):
        for _ in range(n):
            g = int(rng.integers(len(goods)))
            kind = defect if defect in PROCEDURAL_KINDS else str(rng.choice(PROCEDURAL_KINDS))
            mask = procedural_mask(
                kind, goods[g].shape[:2], estimate_foreground(goods[g]), rng, size_range=(0.05, 0.3)
            ).astype(np.uint8)
            record = {"arm": "procedural", "defect": defect, "kind": kind, "good_index": g, "seed": seed}
            out.append(SyntheticPair(paint_darkening(goods[g], mask, rng), mask, record))
    return out


def _check_goods(goods: Sequence[np.ndarray], per_defect: Mapping[str, int]) -> None:
    if not goods:
        raise ValueError(
            "perlin pairs need at least one defect-free image, got none; pass the training goods."
        )
    bad = {d: n for d, n in per_defect.items() if not isinstance(n, (int, np.integer)) or n < 0}
    if bad:
        raise ValueError(f"per_defect counts must be integers >= 0, got {bad}.")
    for k, good in enumerate(goods):
        check_image(good, f"goods[{k}]")


def perlin_pairs(
    goods: Sequence[np.ndarray], per_defect: Mapping[str, int], seed: int
) -> list[SyntheticPair]:
    """DRAEM-style anomalies on random defect-free images, textured from another one (exact masks).

    The texture comes from a different image than the one painted when there are several; gray
    results are stored as RGB (a `SyntheticPair` is RGB).
    """
    _check_goods(goods, per_defect)
    rng = np.random.default_rng(seed)
    foregrounds = ForegroundCache(goods)
    out = []
    for defect, n in sorted(per_defect.items()):
        for _ in range(n):
            g = int(rng.integers(len(goods)))
            t = (g + 1 + int(rng.integers(len(goods) - 1))) % len(goods) if len(goods) > 1 else g
            image, mask, info = perlin_anomaly(goods[g], goods[t], rng, foregrounds[g])
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=2)
            record = {"arm": "perlin", "defect": defect, "good_index": g, "texture_index": t, "seed": seed}
            out.append(SyntheticPair(image, mask, record | info))
    return out


@dataclass(frozen=True)
class PairInputs:
    """What a pair maker may use: defect-free training images, the real shots, a synthetic source."""

    goods: Sequence[np.ndarray]
    shots: Sequence[Shot]
    source: DefectSource | None = None
    progress: bool = False


PairMaker = Callable[[PairInputs, Mapping[str, int], int], list[SyntheticPair]]


def _synthetic(inputs: PairInputs, per_defect: Mapping[str, int], seed: int) -> list[SyntheticPair]:
    if inputs.source is None:
        raise ValueError("the synthetic pairs need a source (synthetic=FOLDER); none was given.")
    return synthetic_pairs(inputs.source, per_defect, inputs.goods, seed, inputs.progress)


# pair source -> maker(inputs, per_defect, seed)
PAIR_MAKERS: dict[str, PairMaker] = {
    "synthetic": _synthetic,
    "copy-paste": lambda inputs, per_defect, seed: copy_paste_pairs(
        inputs.shots, inputs.goods, per_defect, seed
    ),
    "procedural": lambda inputs, per_defect, seed: procedural_pairs(inputs.goods, per_defect, seed),
    "perlin": lambda inputs, per_defect, seed: perlin_pairs(inputs.goods, per_defect, seed),
}
