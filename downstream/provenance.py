"""Which real defect images a stored bank was pasted from, checked against the split it is scored on.

A paste bank (``defect-synth paste``, copy-paste exports) names each pair's shot: its product,
defect type and file name. Benchmarked on a split:

* a pair pasted from an image of the split's **validation or test** part would train the detector
  on a defect it is then chosen or scored on: refused, with the images named;
* a pair pasted from another image of the same dataset that is not among the split's shots (a
  shot that a smaller ``--shots`` setting leaves out) is **left out** of that split's draw, so one
  bank serves a whole sweep and each setting trains only on pastes of its own shots;
* a pair that names no shot (painted by a model) or a shot of another dataset is kept: nothing
  here can tell which real defects it came from.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augment.data.index import Sample
from augment.data.pairs import read_manifest
from augment.data.split import FewShotSplit
from augment.errors import DataError
from augment.loaders.sources import BankSource, open_source

__all__ = ["BankCheck", "ShotKey", "check_bank", "check_source", "record_shot", "sample_key"]

logger = logging.getLogger(__name__)

ShotKey = tuple[str, str, str]  # (product, defect type, image file name)


def sample_key(sample: Sample) -> ShotKey:
    return (sample.product, sample.defect, sample.image.name)


def record_shot(record: Mapping[str, Any]) -> ShotKey | None:
    """The shot a bank record says its defect was pasted from; None when it names none."""
    shot = record.get("shot")
    if not isinstance(shot, str) or not shot:
        return None
    return (str(record.get("product", "")), str(record.get("defect", "")), shot)


@dataclass(frozen=True)
class BankCheck:
    """What `check_bank` found: the pairs to leave out, and whether every pair named a dataset shot."""

    left_out: list[str] = field(default_factory=list)
    checked: bool = False  # every pair names an image of this dataset: no other real defect is in it


def check_bank(records: Sequence[Mapping[str, Any]], split: FewShotSplit, bank: str) -> BankCheck:
    """Which of the bank's pairs were pasted from dataset images that are not ``split``'s shots.

    Raises a DataError when any pair was pasted from the split's validation or test part.
    """
    held_out = {sample_key(s) for s in split.validation + split.test}
    shots = {sample_key(s) for s in split.shots}
    dataset = {sample_key(s) for s in split.index.samples}
    keys = [record_shot(r) for r in records]
    leaked = sorted({k for k in keys if k in held_out})
    if leaked:
        named = ", ".join("/".join(k) for k in leaked[:5])
        raise DataError(
            f"bank {bank} pastes defects of {len(leaked)} image(s) that this split holds out for "
            f"validation or test ({named}{', ...' if len(leaked) > 5 else ''}): the detector would "
            "train on the defects it is chosen and scored on. Build the bank from this split's "
            "shots (`defect-synth paste --data DATA` uses the same first-third split as the "
            "benchmark) or benchmark it on the split it was built from."
        )
    left_out = [
        str(r.get("name", "")) for r, k in zip(records, keys, strict=True) if k in dataset and k not in shots
    ]
    return BankCheck(left_out, checked=bool(keys) and all(k in dataset for k in keys))


def check_source(synthetic: str | Path, split: FewShotSplit) -> BankCheck:
    """`check_bank` for the source at ``synthetic`` when it is a bank; nothing checked for other sources."""
    source = open_source(synthetic)
    if not isinstance(source, BankSource):
        return BankCheck()
    check = check_bank(read_manifest(source.root), split, source.origin)
    if check.left_out:
        logger.info(
            "left out %d pair(s) of bank %s: pasted from shots this split does not train on",
            len(check.left_out),
            source.origin,
        )
    return check
