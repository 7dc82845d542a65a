"""A bank of copy-paste pairs made from the real few-shot defects: a source that needs no model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from augment.data.index import index_folder, load_sample_arrays
from augment.data.pairs import SyntheticPair, write_pair
from augment.data.split import make_split
from augment.masks.foreground import estimate_foreground
from augment.masks.paste import paste_defect


def build_paste_bank(data: str | Path, out: str | Path, per_shot: int = 1, seed: int = 0) -> Path:
    """Paste each few-shot defect (first-third split) onto defect-free training images; write a bank."""
    split = make_split(index_folder(data), seed=seed)
    if not split.good_train:
        raise ValueError(f"{data} has no defect-free training image to paste defects into.")
    rng = np.random.default_rng(seed)
    k = 0
    for defect, shots in sorted(split.shots_by_defect().items()):
        for shot in shots:
            image, mask = load_sample_arrays(shot)
            for _ in range(per_shot):
                target, _ = load_sample_arrays(split.good_train[k % len(split.good_train)])
                pasted = paste_defect(target, image, mask, rng, estimate_foreground(target))
                if pasted is not None:
                    record = {"seed": seed, "shot": shot.image.name, "mask_source": "paste"}
                    write_pair(
                        out,
                        SyntheticPair(pasted[0], pasted[1], record),
                        f"paste-{k:05d}",
                        shot.product,
                        defect,
                    )
                k += 1
    return Path(out)


__all__ = ["build_paste_bank"]
