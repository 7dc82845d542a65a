"""A bank of copy-paste pairs made from the real few-shot defects: a source that needs no model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import get_args

import numpy as np
from tqdm.auto import tqdm

from augment.data.bank_folder import open_bank
from augment.data.index import index_folder, load_sample_arrays
from augment.data.pairs import SyntheticPair, write_pair
from augment.data.split import make_split
from augment.loaders.copy_paste import CopyPasteSource
from augment.masks.foreground import estimate_foreground
from augment.masks.paste import Blend

__all__ = ["build_paste_bank"]

logger = logging.getLogger(__name__)


def _check_args(per_shot: int, blend: str) -> None:
    """ValueError unless ``per_shot`` is a positive whole number and ``blend`` a known blend."""
    if isinstance(per_shot, bool) or not isinstance(per_shot, int | np.integer) or per_shot < 1:
        raise ValueError(f"per_shot must be a whole number >= 1 (pastes of each shot), got {per_shot!r}.")
    if blend not in get_args(Blend):
        raise ValueError(f"blend must be one of {list(get_args(Blend))}, got {blend!r}.")


def build_paste_bank(
    data: str | Path,
    out: str | Path,
    per_shot: int = 1,
    seed: int = 0,
    blend: Blend = "feather",
    skip_invalid: bool = False,
    progress: bool = False,
) -> Path:
    """Paste each few-shot defect (first-third split) ``per_shot`` times onto the defect-free training
    images in turn (``blend``: feathered alpha, or Poisson cloning with "seamless"); write the pasted
    pairs as a bank into ``out`` (a new or empty folder: an earlier bank there is refused, never
    appended to twice). Each record names its target image (``source_image``) and shot. Pastes that
    fit nowhere are counted and logged; ``progress`` shows a bar."""
    _check_args(per_shot, blend)
    split = make_split(index_folder(data, skip_invalid=skip_invalid), seed=seed)
    if not split.good_train:
        raise ValueError(f"{data} has no defect-free training image to paste defects into.")
    fingerprint = f"paste-{blend}"
    open_bank(out, {"seed": seed, "model": fingerprint, "per_shot": per_shot, "blend": blend})
    source = CopyPasteSource.from_split(split)
    rng = np.random.default_rng(seed)
    k = dropped = 0
    bar = tqdm(total=per_shot * len(split.shots), desc="paste bank", disable=not progress)
    for defect in source.defects:
        for i, shot in enumerate(source.pairs[defect]):
            for _ in range(per_shot):
                good = split.good_train[k % len(split.good_train)]
                target, _ = load_sample_arrays(good)
                pasted = source.paste(target, defect, i, rng, estimate_foreground(target), blend=blend)
                if pasted is None:
                    dropped += 1
                else:
                    record = {
                        "seed": seed,
                        "run_seed": seed,
                        "model_fingerprint": fingerprint,
                        "shot": shot.record["shot"],
                        "source_image": str(good.image),
                        "mask_source": "paste",
                        "paste_blend": blend,
                    }
                    pair = SyntheticPair(pasted[0], pasted[1], record)
                    write_pair(out, pair, f"paste-{k:05d}", shot.record["product"], defect)
                k += 1
                bar.update()
    bar.close()
    if dropped:
        logger.warning(
            "paste bank %s: %d of %d pastes fitted nowhere on their target image and were left out",
            out,
            dropped,
            k,
        )
    return Path(out)
