"""Offline export: a dataset plus synthetic defects, written once, in the MVTec layout.

The output is the input dataset (files hard-linked, or copied across file systems) with synthetic
pairs added under ``<product>/test/<defect>/`` and ``<product>/ground_truth/<defect>/``, and
``manifest.jsonl`` with each synthetic pair's record, so `augment.index.index_folder` (or any
MVTec loader) reads it, and it is itself a bank for `DefectAugment`.

Resumable: a state file (``.defect-synth-export.json``) names the job; every file is written to
a temporary name and renamed, job ``j`` is a pure function of the seed, and a pair counts as done
only once its manifest line is in. A killed export run again with the same arguments finishes
with the same files as an uninterrupted one; with other arguments, or into a folder that is not
its own output, it refuses unless ``overwrite=True``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from augment.imageio import DataError, read_image
from augment.index import Sample, index_folder
from augment.pairs import MANIFEST, read_manifest, write_pair
from augment.sources import check_defects, open_source
from augment.wrappers import sample_seed

logger = logging.getLogger(__name__)

STATE = ".defect-synth-export.json"
SYNTHETIC_PREFIX = "synthetic-"
MAKE_TRIES = 8


@dataclass(frozen=True)
class Job:
    """One synthetic pair to make: its defect type, defect-free source image and file name."""

    index: int
    defect: str
    product: str
    base: Sample

    @property
    def name(self) -> str:
        return f"{SYNTHETIC_PREFIX}{self.defect}-{self.index:06d}"


def real_destination(sample: Sample, root: Path) -> tuple[Path, Path | None]:
    """Where a real file goes in the MVTec layout (generic 'all' split: good -> train, defects -> test)."""
    split = sample.split if sample.split in ("train", "test") else ("train" if sample.is_good else "test")
    image = root / sample.product / split / sample.defect / sample.image.name
    if sample.mask is None:
        return image, None
    return image, root / sample.product / "ground_truth" / sample.defect / f"{sample.image.stem}_mask.png"


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst` (copy when linking is impossible), atomically; no-op if present."""
    if dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    tmp.replace(dst)


def plan_jobs(samples: Sequence[Sample], defects: Sequence[str], ratio: float) -> list[Job]:
    """`ratio` times as many synthetic pairs per defect type as real ones, on cycled good images."""
    goods = [s for s in samples if s.is_good and s.split != "test"] or [s for s in samples if s.is_good]
    if not goods:
        raise DataError("the dataset has no defect-free ('good') image to put synthetic defects into.")
    jobs: list[Job] = []
    for defect in defects:
        real = [s for s in samples if s.defect == defect]
        for _ in range(max(1, round(ratio * len(real)))):
            base = goods[len(jobs) % len(goods)]
            jobs.append(Job(len(jobs), defect, base.product, base))
    return jobs


def _check_names(samples: Sequence[Sample]) -> None:
    clash = [s.image for s in samples if s.image.stem.startswith(SYNTHETIC_PREFIX)]
    if clash:
        raise DataError(
            f"real file {clash[0]} starts with '{SYNTHETIC_PREFIX}', the prefix reserved for "
            "synthetic pairs; rename it so real and synthetic names cannot collide."
        )


def prepare_output(out: Path, state: dict[str, Any], overwrite: bool) -> None:
    """Create `out`, or accept it as this job's earlier output; refuse anything else."""
    state_file = out / STATE
    if out.exists() and any(out.iterdir()):
        previous = json.loads(state_file.read_text()) if state_file.is_file() else None
        if previous != state and not overwrite:
            why = "is not an export folder" if previous is None else "holds an export with other arguments"
            raise DataError(
                f"output folder {out} is not empty and {why}; choose an empty folder, or pass "
                "--overwrite to replace its contents."
            )
        if previous != state:
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    for tmp in out.rglob(".*.tmp"):
        tmp.unlink()
    records = read_manifest(out) if (out / MANIFEST).is_file() else []
    lines = "".join(json.dumps(r, default=str) + "\n" for r in records)
    (out / f".{MANIFEST}.tmp").write_text(lines, encoding="utf-8")
    (out / f".{MANIFEST}.tmp").replace(out / MANIFEST)
    (out / f".{STATE}.tmp").write_text(json.dumps(state, indent=2))
    (out / f".{STATE}.tmp").replace(state_file)


def _make_pair(source: Any, job: Job, seed: int, strength: float) -> Any:
    image = read_image(job.base.image)
    for attempt in range(MAKE_TRIES):
        pair_seed = sample_seed(seed, 0, job.index, attempt)
        pair = source.make(image, job.defect, strength, pair_seed)
        if pair is not None:
            return pair
    raise RuntimeError(f"could not place a {job.defect} defect on {job.base.image} after {MAKE_TRIES} tries.")


def export_dataset(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    ratio: float = 2.0,
    defects: Sequence[str] | None = None,
    seed: int = 0,
    strength: float = 1.0,
    overwrite: bool = False,
    progress: bool = True,
    on_pair: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write the augmented dataset to `out`; returns counts of real files and synthetic pairs.

    `model` is a saved synthesizer or a bank. `on_pair(k)` is called after the k-th pair written
    in this run (for progress hooks, and for tests that interrupt the export).
    """
    if ratio <= 0:
        raise ValueError(f"ratio (synthetic pairs per real defect image) must be > 0, got {ratio}.")
    index = index_folder(data, defects=defects)
    source = open_source(model)
    wanted = list(defects) if defects else [d for d in index.defects if d in source.defects]
    check_defects(source.defects, wanted, str(model))
    if not wanted:
        raise DataError(
            f"no defect type is both in {index.root} ({index.defects}) and in the source "
            f"{model} ({source.defects})."
        )
    _check_names(index.samples)
    out = Path(out).expanduser().resolve()
    state = {
        "model": str(Path(model).resolve()),
        "data": index.fingerprint(),
        "ratio": ratio,
        "defects": wanted,
        "seed": seed,
        "strength": strength,
    }
    prepare_output(out, state, overwrite)
    for sample in index.samples:
        image_dst, mask_dst = real_destination(sample, out)
        link_or_copy(sample.image, image_dst)
        if sample.mask is not None and mask_dst is not None:
            link_or_copy(sample.mask, mask_dst)
    done = {r["name"] for r in read_manifest(out)}
    jobs = plan_jobs(index.samples, wanted, ratio)
    written = 0
    for job in tqdm(jobs, desc="export", disable=not progress):
        if job.name in done:
            continue
        pair = _make_pair(source, job, seed, strength)
        pair.record.update({"base_image": job.base.image.name, "job": job.index})
        write_pair(out, pair, job.name, job.product, job.defect)
        written += 1
        if on_pair is not None:
            on_pair(written)
    return {"real": len(index.samples), "synthetic": len(jobs), "written_now": written}


__all__ = ["STATE", "export_dataset", "plan_jobs", "real_destination"]
