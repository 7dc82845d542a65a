"""Which real defect images a stored bank was pasted from, checked against the split it is scored on.

A paste bank (``defect-synth paste``, copy-paste exports) names each pair's shot: its product,
defect type and file name. Benchmarked on a split:

* a pair pasted from an image of the split's **validation or test** part would train the detector
  on a defect it is then chosen or scored on: refused, with the images named;
* a pair pasted from another image of the same dataset that is not among the split's shots (a
  shot that a smaller ``--shots`` setting leaves out) is **left out** of that split's draw, so one
  bank serves a whole sweep and each setting trains only on pastes of its own shots;
* a pair painted by a model names the real images the model was fitted on (``model_shots``): one
  of the split's validation or test images among them is refused as above; the pair is checked
  when all of them are the split's shots, and kept but not checked when the model also saw shots
  this setting lacks (a model cannot unlearn them: fit one per setting with ``fit --split``);
* a pair that names neither (older banks) or only images of another dataset is kept: nothing here
  can tell which real defects it came from.

A saved synthesizer used as the source directly is checked the same way, from its ``fitted.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augment.data.index import Sample
from augment.data.pairs import read_manifest
from augment.data.split import FewShotSplit
from augment.errors import DataError
from augment.loaders.sources import BankSource, SynthesizerSource, open_source

__all__ = [
    "BankCheck",
    "ShotKey",
    "check_bank",
    "check_source",
    "model_check",
    "record_model_shots",
    "record_shot",
    "sample_key",
]

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


def record_model_shots(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The real defect images the model that painted a record's pair was fitted on (empty: unknown)."""
    shots = record.get("model_shots")
    return tuple(str(p) for p in shots) if isinstance(shots, list) else ()


def _paths(samples: Sequence[Sample]) -> set[str]:
    return {str(s.image.resolve()) for s in samples}


def _refuse_leak(what: str, images: Collection[str], fix: str) -> None:
    if images:
        named = ", ".join(sorted(images)[:5])
        raise DataError(
            f"{what} {len(images)} image(s) that this split holds out for validation or test "
            f"({named}{', ...' if len(images) > 5 else ''}): the detector would train on the "
            f"defects it is chosen and scored on. {fix}"
        )


MODEL_FIX = (
    "Fit the model on this split's shots (`defect-synth fit --split OUT/split.json`, or a setting's "
    "OUT/split-Kshots.json) or benchmark it on the split it was fitted on."
)


def model_check(shot_images: Sequence[str], split: FewShotSplit, what: str) -> bool:
    """Whether a model fitted on ``shot_images`` saw only ``split``'s shots (False: unknown or more).

    Raises a DataError when it saw one of the split's validation or test images.
    """
    seen = {str(Path(p).resolve()) for p in shot_images}
    _refuse_leak(f"{what} was fitted on", seen & _paths(split.validation + split.test), MODEL_FIX)
    return bool(seen) and seen <= _paths(split.shots)


def check_bank(records: Sequence[Mapping[str, Any]], split: FewShotSplit, bank: str) -> BankCheck:
    """Which of the bank's pairs were pasted from dataset images that are not ``split``'s shots.

    Raises a DataError when any pair was pasted from the split's validation or test part, or
    painted by a model fitted on one of them.
    """
    held_out = {sample_key(s) for s in split.validation + split.test}
    shots = {sample_key(s) for s in split.shots}
    dataset = {sample_key(s) for s in split.index.samples}
    keys = [record_shot(r) for r in records]
    _refuse_leak(
        f"bank {bank} pastes defects of",
        {"/".join(k) for k in keys if k in held_out},
        "Build the bank from this split's shots (`defect-synth paste --data DATA` uses the same "
        "first-third split as the benchmark) or benchmark it on the split it was built from.",
    )
    models = {record_model_shots(r) for r in records}
    model_ok = {m: model_check(m, split, f"bank {bank} holds pairs of a model that") for m in models if m}
    left_out = [
        str(r.get("name", "")) for r, k in zip(records, keys, strict=True) if k in dataset and k not in shots
    ]
    checked = all(
        k in dataset or model_ok.get(record_model_shots(r), False) for r, k in zip(records, keys, strict=True)
    )
    return BankCheck(left_out, checked=bool(keys) and checked)


def check_source(synthetic: str | Path, split: FewShotSplit) -> BankCheck:
    """`check_bank` for the source at ``synthetic`` when it is a bank, `model_check` when it is a saved
    synthesizer; nothing checked for a dataset folder (copy-paste of its own first-third shots)."""
    source = open_source(synthetic)
    if isinstance(source, SynthesizerSource):
        shot_images = source.synthesizer.fitted.shot_images
        return BankCheck(checked=model_check(shot_images, split, f"model {source.origin}"))
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
