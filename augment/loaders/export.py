"""Offline export: a dataset plus synthetic defects, written once, in the MVTec layout.

The output is the input dataset (files hard-linked, or copied across file systems) with synthetic
pairs added under ``<product>/test/<defect>/`` and ``<product>/ground_truth/<defect>/``, and
``manifest.jsonl`` with each synthetic pair's record, so `augment.data.index.index_folder` (or any
MVTec loader) reads it, and it is itself a bank for `DefectAugment`. For box detectors the
formats ``coco`` and ``yolo`` add ``coco.json`` and a ``yolo/`` view with a label file per image,
real and synthetic alike (`augment.loaders.box_labels`); the manifest records name them.

Resumable: a state file (``.defect-synth-export.json``) names the job; every file is written to
a temporary name and renamed, job ``j`` is a pure function of the seed, and a pair counts as done
only once its manifest line is in. A killed export run again with the same arguments finishes
with the same files as an uninterrupted one; with other arguments, or into a folder that is not
its own output, it refuses unless ``overwrite=True``.

Several processes: under ``accelerate launch`` each process links its share (`shard_indices`) of
the real files and makes its share of the synthetic jobs; process 0 alone prepares the folder
while the others wait at accelerate's barrier, and every process returns once the whole export is
written. Job ``j`` and its file names do not depend on who makes it, so the output is the same for
any number of processes, and a killed export can be finished with any number of them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from augment.data.imageio import read_image
from augment.data.index import DatasetIndex, Sample, index_folder
from augment.data.outputs import check_location
from augment.data.pairs import SyntheticPair, pair_paths, read_manifest, write_pair
from augment.errors import DataError
from augment.files import EXPORT_STATE, MANIFEST
from augment.loaders.box_labels import ExportedImage, ExportLabels, check_formats
from augment.loaders.seeds import MAKE_TRIES, first_pair
from augment.loaders.sources import DefectSource, check_defects, open_source
from augment.masks.boxes import DEFAULT_MIN_AREA
from augment.processes import process_rank, shard_indices, under_launcher, wait_for_everyone

logger = logging.getLogger(__name__)

SYNTHETIC_PREFIX = "synthetic-"


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

    def exported(self) -> ExportedImage:
        """Its image and mask in the export (paths relative to the export's root)."""
        image, mask = pair_paths(Path(), self.product, self.defect, self.name)
        return ExportedImage(image, mask, self.defect)


def real_destination(sample: Sample, root: Path) -> tuple[Path, Path | None]:
    """Where a real file goes in the MVTec layout (generic 'all' split: good -> train, defects -> test)."""
    split = sample.split if sample.split in ("train", "test") else ("train" if sample.is_good else "test")
    image = root / sample.product / split / sample.defect / sample.image.name
    if sample.mask is None:
        return image, None
    return image, root / sample.product / "ground_truth" / sample.defect / f"{sample.image.stem}_mask.png"


def real_exported(sample: Sample) -> ExportedImage:
    """A real sample's image and mask in the export (paths relative to its root)."""
    image, mask = real_destination(sample, Path())
    return ExportedImage(image, mask, sample.defect)


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
    """Refuse real files whose output names collide with synthetic ones or with each other."""
    clash = [s.image for s in samples if s.image.stem.startswith(SYNTHETIC_PREFIX)]
    if clash:
        raise DataError(
            f"real file {clash[0]} starts with '{SYNTHETIC_PREFIX}', the prefix reserved for "
            "synthetic pairs; rename it so real and synthetic names cannot collide."
        )
    seen: dict[Path, Path] = {}
    for sample in samples:
        image, mask = real_destination(sample, Path())
        for src, dst in ((sample.image, image), (sample.mask, mask)):
            if src is not None and dst is not None and seen.setdefault(dst, src) != src:
                raise DataError(
                    f"real files {seen[dst]} and {src} would both be exported as {dst}; "
                    "rename one of them (e.g. images differing only in their suffix share a mask name)."
                )


def check_output(out: Path, state: dict[str, Any], overwrite: bool) -> bool:
    """Whether `out` must be emptied first; raise if it holds anything but this export's output.

    Read-only, so every process of a launched export runs it and they all refuse alike.
    """
    if not (out.exists() and any(out.iterdir())):
        return False
    state_file = out / EXPORT_STATE
    previous = json.loads(state_file.read_text()) if state_file.is_file() else None
    if previous != state and not overwrite:
        why = "is not an export folder" if previous is None else "holds an export with other arguments"
        raise DataError(
            f"output folder {out} is not empty and {why}; choose an empty folder, or pass "
            "overwrite=True to replace its contents."
        )
    return previous != state


def prepare_output(out: Path, state: dict[str, Any], overwrite: bool) -> None:
    """Create `out`, or accept it as this job's earlier output; refuse anything else.

    Also clears what a killed run left: temporary files and a torn manifest line.
    """
    if check_output(out, state, overwrite):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    for tmp in out.rglob(".*.tmp"):
        tmp.unlink()
    records = read_manifest(out) if (out / MANIFEST).is_file() else []
    lines = "".join(json.dumps(r, default=str) + "\n" for r in records)
    (out / f".{MANIFEST}.tmp").write_text(lines, encoding="utf-8")
    (out / f".{MANIFEST}.tmp").replace(out / MANIFEST)
    (out / f".{EXPORT_STATE}.tmp").write_text(json.dumps(state, indent=2))
    (out / f".{EXPORT_STATE}.tmp").replace(out / EXPORT_STATE)


def _make_pair(source: DefectSource, job: Job, seed: int, strength: float) -> SyntheticPair:
    """Job `job`'s pair: a pure function of the seed and the job, whichever process makes it."""
    image = read_image(job.base.image, job.base.bit_depth)
    pair = first_pair(lambda s: source.make(image, job.defect, strength, s), seed, 0, job.index)
    if pair is not None:
        return pair
    raise RuntimeError(f"could not place a {job.defect} defect on {job.base.image} after {MAKE_TRIES} tries.")


def _wanted_defects(
    index: DatasetIndex, available: Sequence[str], defects: Sequence[str] | None, model: str | Path
) -> list[str]:
    """The defect types to export: those asked for, else every one both data and source have."""
    wanted = list(defects) if defects else [d for d in index.defects if d in available]
    check_defects(available, wanted, str(model))
    if not wanted:
        raise DataError(
            f"no defect type is both in {index.root} ({index.defects}) and in the source "
            f"{model} ({available})."
        )
    return wanted


def _link_real(sample: Sample, out: Path, labels: ExportLabels) -> None:
    """Put one real image (and its mask) into the output, linked or copied, with its box labels."""
    image_dst, mask_dst = real_destination(sample, out)
    link_or_copy(sample.image, image_dst)
    if sample.mask is not None and mask_dst is not None:
        link_or_copy(sample.mask, mask_dst)
    labels.add(real_exported(sample), link_or_copy)


def _rank_and_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """The share to make: the caller's, else the launcher's, else everything (rank 0 of 1)."""
    if rank is None and world_size is None:
        # Only under a launcher: creating accelerate's state in a lone process is a side effect.
        return process_rank() if under_launcher() else (0, 1)
    if rank is None or world_size is None:
        raise ValueError(
            f"pass both rank and world_size, or neither (then the launcher's are used); "
            f"got rank={rank}, world_size={world_size}."
        )
    shard_indices(0, rank, world_size)  # the same checks and messages as for the shares themselves
    return rank, world_size


def _prepare_once(out: Path, state: dict[str, Any], overwrite: bool) -> None:
    """`prepare_output` on process 0 while the others wait; without a launcher, on this process."""
    if not under_launcher():
        prepare_output(out, state, overwrite)
        return
    check_output(out, state, overwrite)  # every process refuses a wrong folder, none hangs
    wait_for_everyone()  # nobody still reads `out` while process 0 rewrites it
    if process_rank()[0] == 0:
        prepare_output(out, state, overwrite)
    wait_for_everyone()


def _write_share(
    make: Callable[[Job], SyntheticPair],
    jobs: Sequence[Job],
    share: range,
    labels: ExportLabels,
    rank: int,
    progress: bool,
    on_pair: Callable[[int], None] | None,
) -> int:
    """Make and write the jobs of `share` whose manifest line is missing; returns how many.

    Box labels come after the manifest line, and are filled in on a rerun for pairs done before.
    """
    out = labels.root
    # Other processes append meanwhile (whole lines, see `append_line`); only this share's names matter.
    done = {r["name"] for r in read_manifest(out)}
    written = 0
    for j in tqdm(share, desc=f"export (rank {rank})", disable=not progress):
        job, mask = jobs[j], None
        if job.name not in done:
            pair = make(job)
            pair.record.update({"base_image": job.base.image.name, "job": job.index, "rank": rank})
            pair.record.update(labels.record_keys(job.exported().image))
            write_pair(out, pair, job.name, job.product, job.defect)
            written, mask = written + 1, pair.mask
            if on_pair is not None:
                on_pair(written)
        labels.add(job.exported(), link_or_copy, mask)
    return written


def _finish_labels(labels: ExportLabels, samples: Sequence[Sample], jobs: Sequence[Job]) -> None:
    """The whole-export label files, written by one process once every image is in the export."""
    if labels.formats == ("mvtec",) or (under_launcher() and process_rank()[0] != 0):
        return
    items = [real_exported(s) for s in samples] + [job.exported() for job in jobs]
    done = {r["name"] for r in read_manifest(labels.root)}
    if all(job.name in done for job in jobs) and all((labels.root / i.image).is_file() for i in items):
        labels.finish(items)


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
    rank: int | None = None,
    world_size: int | None = None,
    formats: Sequence[str] = ("mvtec",),
    min_area: int = DEFAULT_MIN_AREA,
    skip_invalid: bool = False,
    device: str | None = None,
    dtype: str | None = None,
) -> dict[str, int]:
    """Write the augmented dataset to `out`; returns this process's counts.

    `model` is a saved synthesizer or a bank. `formats` adds box labels to the MVTec layout
    (always written): ``coco`` (``coco.json``) and/or ``yolo`` (``yolo/``), one box per defect
    component of at least `min_area` pixels. `rank`/`world_size` (both or neither) pick this
    process's share; by default the launcher's under ``accelerate launch``, else all of it. Runs
    given explicit ranks without a launcher must not overlap in time (nothing waits for anybody).
    `on_pair(k)` is called after the k-th pair written by this process in this run (for progress
    hooks, and for tests that interrupt the export). ``skip_invalid``: export the dataset without
    its invalid files (``index_folder``); they are counted in the result as ``invalid``.
    ``device`` / ``dtype``: where a saved synthesizer paints and in what precision (under a launcher,
    device 'auto' is each process's own GPU).
    """
    rank, world_size = _rank_and_world(rank, world_size)
    if ratio <= 0:
        raise ValueError(f"ratio (synthetic pairs per real defect image) must be > 0, got {ratio}.")
    formats = check_formats(formats)
    check_location(out, "export output folder")  # a folder, writable: refused before any work
    index = index_folder(data, defects=defects, skip_invalid=skip_invalid)
    source = open_source(model, device, dtype)
    wanted = _wanted_defects(index, source.defects, defects, model)
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
    if formats != ("mvtec",):  # an MVTec-only export keeps the state it always had
        state |= {"formats": list(formats), "min_area": min_area}
    if dtype is not None:  # other precisions paint other pixels
        state["dtype"] = dtype
    labels = ExportLabels(out, formats, tuple(sorted({*index.defects, *wanted})), min_area)
    jobs = plan_jobs(index.samples, wanted, ratio)
    _prepare_once(out, state, overwrite)
    for i in shard_indices(len(index.samples), rank, world_size):
        _link_real(index.samples[i], out, labels)
    share = shard_indices(len(jobs), rank, world_size)
    make = functools.partial(_make_pair, source, seed=seed, strength=strength)
    written = _write_share(make, jobs, share, labels, rank, progress, on_pair)
    wait_for_everyone()
    _finish_labels(labels, index.samples, jobs)
    wait_for_everyone()  # returning means the whole export is there, whichever process returns
    return {
        "real": len(index.samples),
        "synthetic": len(jobs),
        "rank": rank,
        "world_size": world_size,
        "share": len(share),
        "written_now": written,
        "invalid": len(index.invalid),
    }


__all__ = ["export_dataset", "plan_jobs", "real_destination"]
