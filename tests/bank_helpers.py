"""A small bank of pasted pairs built from the tiny_pills fixture (no synthesizer needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from augment.index import index_folder, load_sample_arrays
from augment.masks import estimate_foreground
from augment.pairs import SyntheticPair, write_pair
from augment.paste import paste_defect


def make_bank(data: Path, out: Path, per_defect: int = 3, seed: int = 0) -> Path:
    """Paste each defect type's first shots onto good training images and store them as a bank."""
    index = index_folder(data)
    goods = [s for s in index.samples if s.is_good and s.split == "train"]
    rng = np.random.default_rng(seed)
    for defect in index.defects:
        shots = [s for s in index.samples if s.defect == defect][:per_defect]
        for k, shot in enumerate(shots):
            image, mask = load_sample_arrays(shot)
            target, _ = load_sample_arrays(goods[k % len(goods)])
            pasted = paste_defect(target, image, mask, rng, estimate_foreground(target))
            assert pasted is not None
            pair = SyntheticPair(pasted[0], pasted[1], {"seed": seed, "shot": shot.image.name})
            write_pair(out, pair, f"{defect}_{k:03d}", shot.product, defect)
    return out
