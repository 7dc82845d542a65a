"""A bank of copy-paste pairs made from the real few-shot defects: a source that needs no model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from augment.data.index import index_folder, load_sample_arrays
from augment.data.pairs import SyntheticPair, write_pair
from augment.data.split import make_split
from augment.loaders.copy_paste import CopyPasteSource
from augment.masks.foreground import estimate_foreground
from augment.masks.paste import Blend

__all__ = ["build_paste_bank"]

logger = logging.getLogger(__name__)


def build_paste_bank(
    data: str | Path, out: str | Path, per_shot: int = 1, seed: int = 0, blend: Blend = "feather"
) -> Path:
    """Paste each few-shot defect (first-third split) ``per_shot`` times onto the defect-free training
    images in turn (``blend``: feathered alpha, or Poisson cloning with "seamless"); write the pasted
    pairs as a bank. Pastes that fit nowhere are counted and logged."""
    split = make_split(index_folder(data), seed=seed)
    if not split.good_train:
        raise ValueError(f"{data} has no defect-free training image to paste defects into.")
    source = CopyPasteSource.from_split(split)
    rng = np.random.default_rng(seed)
    k = dropped = 0
    for defect in source.defects:
        for i, shot in enumerate(source.pairs[defect]):
            for _ in range(per_shot):
                target, _ = load_sample_arrays(split.good_train[k % len(split.good_train)])
                pasted = source.paste(target, defect, i, rng, estimate_foreground(target), blend=blend)
                if pasted is None:
                    dropped += 1
                else:
                    record = {
                        "seed": seed,
                        "shot": shot.record["shot"],
                        "mask_source": "paste",
                        "paste_blend": blend,
                    }
                    pair = SyntheticPair(pasted[0], pasted[1], record)
                    write_pair(out, pair, f"paste-{k:05d}", shot.record["product"], defect)
                k += 1
    if dropped:
        logger.warning(
            "paste bank %s: %d of %d pastes fitted nowhere on their target image and were left out",
            out,
            dropped,
            k,
        )
    return Path(out)
