"""Few-shot splits: which defect images are the shots, which are held out for validation and testing.

Two protocols choose the shots:

* ``first-third`` (default; the protocol of AnomalyDiffusion and SeaS): for each product and
  defect type, the first third of its images by sorted file name (at least one) are the shots;
* ``shots=K``: K images per defect type drawn with a seed.

The defect images that are not shots are split, per defect type and with the seed, into a
**validation** part (every choice: checkpoint, threshold, ratio) and a **test** part (every
reported number); a type with at least two such images gets at least one in each. Defect-free
images keep the dataset's own train/test folders when it has both (MVTec), and are otherwise
split with the seed; the held-out defect-free images are split into validation and test likewise.
The validation draw uses its own generator, so shots and training images do not depend on it.

A split is saved as JSON with the index fingerprint, so every later step (fit, benchmark,
evaluate) reloads exactly the same split and refuses a changed dataset. Splits saved before the
validation parts existed still load, with empty validation parts.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from augment.data.index import DatasetIndex, Sample, index_folder
from augment.data.outputs import writing
from augment.errors import DataError

logger = logging.getLogger(__name__)

PARTS = ("shots", "val_defects", "test_defects", "good_train", "good_val", "good_test")
VALIDATION_PARTS = ("val_defects", "good_val")  # absent from splits saved by older versions


@dataclass
class FewShotSplit:
    """The six parts of a split, plus what is needed to reproduce and check it."""

    index: DatasetIndex
    shots: list[Sample]
    test_defects: list[Sample]
    good_train: list[Sample]
    good_test: list[Sample]
    protocol: str
    seed: int
    val_defects: list[Sample] = field(default_factory=list)
    good_val: list[Sample] = field(default_factory=list)

    @property
    def train(self) -> list[Sample]:
        """What a model may learn from: the shots and the defect-free training images."""
        return self.shots + self.good_train

    @property
    def validation(self) -> list[Sample]:
        """What every choice is made on: the validation defects and defect-free images."""
        return self.val_defects + self.good_val

    @property
    def test(self) -> list[Sample]:
        """What a model is judged on: the test defects and defect-free test images (never validation)."""
        return self.test_defects + self.good_test

    def require_validation(self) -> None:
        """Raise a DataError when the split has no validation defects (e.g. saved by an older version)."""
        if not self.val_defects:
            raise DataError(
                f"the split of {self.index.root} has no validation defect images "
                f"(validation parts: {len(self.val_defects)} defects, {len(self.good_val)} defect-free); "
                "choices must be made on validation, never on test. It was probably saved before "
                "splits had validation parts, or each defect type has fewer than 2 non-shot images. "
                "Make a new split (make_split(...) or `defect-synth index DATA --save-split split.json`)."
            )

    def shots_by_defect(self) -> dict[str, list[Sample]]:
        out: dict[str, list[Sample]] = defaultdict(list)
        for s in self.shots:
            out[s.defect].append(s)
        return dict(out)

    def part(self, name: str) -> list[Sample]:
        if name not in PARTS:
            raise ValueError(f"split part must be one of {PARTS}, got {name!r}.")
        return list(getattr(self, name))

    def summary(self) -> dict[str, object]:
        per_defect: dict[str, dict[str, int]] = defaultdict(lambda: {"shots": 0, "val": 0, "test": 0})
        for key, part in (("shots", self.shots), ("val", self.val_defects), ("test", self.test_defects)):
            for s in part:
                per_defect[s.defect][key] += 1
        return {
            "protocol": self.protocol,
            "seed": self.seed,
            "fingerprint": self.index.fingerprint(),
            **{p: len(getattr(self, p)) for p in PARTS},
            "per_defect": dict(per_defect),
        }

    def to_dict(self) -> dict[str, object]:
        root = self.index.root
        return {
            "root": str(root),
            "layout": self.index.layout,
            "defects": self.index.defects,
            "products": self.index.products,
            "protocol": self.protocol,
            "seed": self.seed,
            "fingerprint": self.index.fingerprint(),
            "bit_depth": self.index.bit_depth,
            **{p: [s.image.relative_to(root).as_posix() for s in getattr(self, p)] for p in PARTS},
            "invalid": [i.to_record() for i in self.index.invalid],  # left out under skip_invalid=True
        }

    def save(self, path: str | Path) -> Path:
        """Write the split as JSON (atomically) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with writing(path):
            tmp.write_text(json.dumps(self.to_dict(), indent=2))
            tmp.replace(path)
        return path


def _first_third(group: list[Sample]) -> int:
    return max(1, len(group) // 3)


def split_validation(
    rows: list[Sample], fraction: float, rng: np.random.Generator
) -> tuple[list[Sample], list[Sample]]:
    """Draw ``fraction`` of ``rows`` (in their order) for validation, the rest for test.

    With two or more rows each part gets at least one; a single row goes to test.
    """
    if len(rows) < 2:
        return [], list(rows)
    n_val = min(len(rows) - 1, max(1, round(len(rows) * fraction)))
    val_ids = set(rng.permutation(len(rows))[:n_val].tolist())
    return [s for i, s in enumerate(rows) if i in val_ids], [
        s for i, s in enumerate(rows) if i not in val_ids
    ]


def make_split(
    index: DatasetIndex,
    shots: int | None = None,
    seed: int = 0,
    good_test_fraction: float = 0.3,
    val_fraction: float = 0.5,
) -> FewShotSplit:
    """Split an index into shots, validation and test defects, and defect-free train/validation/test images.

    ``shots=None`` uses the first-third protocol; ``shots=K`` draws K per defect type with ``seed``.
    ``val_fraction`` of each defect type's non-shot images (and of the held-out defect-free images)
    go to validation, the rest to test.
    """
    if shots is not None and (not isinstance(shots, int) or shots < 1):
        raise ValueError(f"shots must be a positive integer or None (first-third protocol), got {shots!r}.")
    if not 0.0 < good_test_fraction < 1.0:
        raise ValueError(f"good_test_fraction must lie in (0, 1), got {good_test_fraction}.")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(
            f"val_fraction must lie in (0, 1) (the share of held-out images used for validation), got {val_fraction}."
        )
    rng = np.random.default_rng(seed)
    val_rng = np.random.default_rng([seed, 1])  # its own stream: shots and training images do not move
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    goods: dict[str, list[Sample]] = defaultdict(list)
    for s in index.samples:
        (goods[s.product] if s.is_good else groups[(s.product, s.defect)]).append(s)
    shot_rows: list[Sample] = []
    val_rows: list[Sample] = []
    test_rows: list[Sample] = []
    for (product, defect), group in sorted(groups.items()):
        group = sorted(group, key=lambda s: s.image.name)
        if shots is None:
            k = _first_third(group)
            chosen = set(range(k))
        else:
            if shots > len(group):
                raise ValueError(
                    f"shots={shots} but {product}/{defect} has only {len(group)} images; "
                    f"use shots <= {len(group)} or the first-third protocol (shots=None)."
                )
            chosen = set(rng.choice(len(group), size=shots, replace=False).tolist())
            if shots == len(group):
                logger.warning(
                    "%s/%s: all %d images are shots, none left for testing", product, defect, shots
                )
        shot_rows += [s for i, s in enumerate(group) if i in chosen]
        val, test = split_validation(
            [s for i, s in enumerate(group) if i not in chosen], val_fraction, val_rng
        )
        val_rows += val
        test_rows += test
    good_train: list[Sample] = []
    good_val: list[Sample] = []
    good_test: list[Sample] = []
    for _product, rows in sorted(goods.items()):
        rows = sorted(rows, key=lambda s: (s.split, s.image.name))
        folder_train = [s for s in rows if s.split == "train"]
        folder_test = [s for s in rows if s.split == "test"]
        if folder_train and folder_test:
            train, held = folder_train, folder_test
        else:
            order = rng.permutation(len(rows))
            n_test = round(len(rows) * good_test_fraction) if len(rows) > 1 else 0
            test_ids = set(order[:n_test].tolist())
            train = [s for i, s in enumerate(rows) if i not in test_ids]
            held = [s for i, s in enumerate(rows) if i in test_ids]
        val, test = split_validation(held, val_fraction, val_rng)
        good_train += train
        good_val += val
        good_test += test
    protocol = "first-third" if shots is None else f"shots={shots}"
    return FewShotSplit(
        index,
        shot_rows,
        test_rows,
        good_train,
        good_test,
        protocol,
        seed,
        val_defects=val_rows,
        good_val=good_val,
    )


def load_split(path: str | Path, index: DatasetIndex | None = None) -> FewShotSplit:
    """Reload a saved split; the dataset is re-indexed (or ``index`` used) and must be unchanged."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        root = Path(data["root"])
        parts = {p: data[p] if p not in VALIDATION_PARTS else data.get(p, []) for p in PARTS}
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(
            f"{path} is not a saved split ({exc}). Create one with make_split(...).save()."
        ) from exc
    if index is None:
        products = data.get("products") or [None]
        index = index_folder(
            root,
            layout=data.get("layout", "auto"),
            defects=data.get("defects"),
            product=products[0] if len(products) == 1 else None,
            skip_invalid=bool(data.get("invalid")),
            bit_depth=data.get("bit_depth"),
        )
    if index.fingerprint() != data["fingerprint"]:
        raise DataError(
            f"the dataset at {index.root} changed since the split {path} was saved "
            f"(fingerprint {index.fingerprint()} != {data['fingerprint']}). Make a new split."
        )
    by_path = {s.image.relative_to(index.root).as_posix(): s for s in index.samples}
    rows = {p: [by_path[r] for r in parts[p]] for p in PARTS}
    if not rows["val_defects"] and not rows["good_val"]:
        logger.warning("%s has no validation parts (saved by an older version); make a new split", path)
    return FewShotSplit(
        index,
        rows["shots"],
        rows["test_defects"],
        rows["good_train"],
        rows["good_test"],
        data["protocol"],
        int(data["seed"]),
        val_defects=rows["val_defects"],
        good_val=rows["good_val"],
    )
