"""One benchmark job: train one model for one (arm, seed, ratio), choose on validation, score on test.

A job is a pure function of the shared ``Context`` (real items, validation and test images, the
settings) and the ``Job`` key, so jobs can run in any order, in this process or in spawned worker
processes (``run_jobs``), and give the same bytes: every random draw takes the job's seed, and each
job runs with ``config.threads`` torch threads wherever it runs. The checkpoint and the threshold
are chosen before any test image is looked at (``downstream.selection``).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from augment.data.pairs import SyntheticPair
from augment.data.resize import resize_image, resize_mask
from augment.loaders.sources import BankSource, DefectSource, open_source
from downstream.arms import PAIR_MAKERS, PairInputs, pair_source, uses_real_defects
from downstream.config import BenchmarkConfig
from downstream.data import Item, SegmentationSet, train_augmentation
from downstream.scoring import EvalSet, RunScores, score_images
from downstream.selection import BestCheckpoint
from downstream.trainer import Trainer, build_model, predict

__all__ = [
    "ArmData",
    "Context",
    "Job",
    "JobResult",
    "ResultStore",
    "extra_counts",
    "run_job",
    "run_jobs",
    "to_items",
    "training_items",
]


def extra_counts(shots_per_defect: dict[str, int], ratio: float) -> dict[str, int]:
    """Extra pairs per defect type: ``ratio`` times its number of shots (at least one)."""
    return {d: max(1, round(ratio * n)) for d, n in shots_per_defect.items()}


def to_items(pairs: Sequence[SyntheticPair], size: tuple[int, int], source: str) -> list[Item]:
    return [
        Item(
            resize_image(p.image, size),
            resize_mask(p.mask, size),
            str(p.record.get("defect")),
            source,
            extra=True,
        )
        for p in pairs
    ]


class ArmData:
    """Builds each arm's extra pairs at model input size, in whichever process runs the job.

    The synthetic source is opened per process (``open_source`` caches it); a saved synthesizer
    paints each seed's pairs once (``prepare``, in the main process, the most any ratio needs), so
    every seed trains on pairs of its own and the interval over seeds covers the generator's draw,
    not one bank's (``downstream.coverage``); every other source draws with each seed.
    """

    def __init__(
        self,
        shots: list[Item],
        goods: list[Item],
        synthetic: str | Path | None,
        skip: Collection[str] = (),
    ) -> None:
        self.shots, self.goods = shots, goods
        self.synthetic = None if synthetic is None else str(synthetic)
        self.skip = frozenset(skip)  # a bank's pairs this split may not train on (downstream.provenance)
        self.shots_per_defect: dict[str, int] = {}
        for s in shots:
            self.shots_per_defect[s.defect] = self.shots_per_defect.get(s.defect, 0) + 1
        self.pool: dict[int, dict[str, list[SyntheticPair]]] | None = None  # seed -> type -> pairs

    def source(self) -> DefectSource | None:
        if self.synthetic is None:
            return None
        source = open_source(self.synthetic)
        return source.without(self.skip) if isinstance(source, BankSource) else source

    def counts(self, ratio: float) -> dict[str, int]:
        return extra_counts(self.shots_per_defect, ratio)

    def _inputs(self, progress: bool = False) -> PairInputs:
        return PairInputs(
            [g.image for g in self.goods],
            [(s.image, s.mask, s.defect) for s in self.shots],
            self.source(),
            progress,
        )

    def prepare(
        self, arms: Sequence[str], ratios: Sequence[float], seeds: Sequence[int], progress: bool
    ) -> None:
        """Paint a synthesizer's pairs for each seed (the most any ratio needs), when an arm uses one."""
        source = self.source()
        if source is None or source.kind != "synthesizer" or "synthetic" not in map(pair_source, arms):
            return
        inputs, counts = self._inputs(progress), self.counts(max(ratios))
        self.pool = {}
        for seed in seeds:
            pairs = PAIR_MAKERS["synthetic"](inputs, counts, seed)
            self.pool[seed] = {d: [p for p in pairs if p.record.get("defect") == d] for d in counts}

    def held(self) -> dict[str, int] | None:
        """Pairs per type that every seed's synthetic arms draw from (a bank's); None when each
        seed gets pairs of its own (a synthesizer painting per seed, a dataset's copy-paste)."""
        source = self.source()
        return source.counts() if isinstance(source, BankSource) else None

    def extra(self, arm: str, seed: int, ratio: float) -> list[Item]:
        source = pair_source(arm)
        if source is None:
            return []
        size = self.goods[0].image.shape[:2]
        counts = self.counts(ratio)
        if source == "synthetic" and self.pool is not None:
            pairs = [p for d, n in sorted(counts.items()) for p in self.pool[seed][d][:n]]
        else:
            pairs = PAIR_MAKERS[source](self._inputs(), counts, seed)
        return to_items(pairs, size, arm)


@dataclass
class Context:
    """What every job shares: the real items, the validation and test images, the settings."""

    config: BenchmarkConfig
    data: ArmData
    validation: EvalSet
    test: EvalSet
    crop: tuple[int, int] | None


@dataclass(frozen=True)
class Job:
    arm: str
    seed: int
    ratio: float | None  # None for the real arm (no extra pairs)


@dataclass
class JobResult:
    """A job's record: choices made on validation, per-image test scores, a few test predictions."""

    job: Job
    curve: list[tuple[int, float]]
    best_step: int
    best_val_ap: float
    scores: RunScores
    previews: np.ndarray
    n_train: int
    n_extra: int
    losses: list[float] = field(repr=False, default_factory=list)
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """The JSON-friendly part (no arrays)."""
        return {
            "arm": self.job.arm,
            "seed": self.job.seed,
            "ratio": self.job.ratio,
            "best_step": self.best_step,
            "best_val_ap": self.best_val_ap,
            "threshold": self.scores.threshold,
            "curve": [list(p) for p in self.curve],
            "n_train": self.n_train,
            "n_extra": self.n_extra,
            "loss_first": float(np.mean(self.losses[:10])),
            "loss_last": float(np.mean(self.losses[-10:])),
            "seconds": self.seconds,
        }


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def training_items(data: ArmData, job: Job) -> list[Item]:
    """The job's training set: real shots (not for ``-only`` arms), defect-free images, the arm's pairs."""
    real = (data.shots if uses_real_defects(job.arm) else []) + data.goods
    return real + data.extra(job.arm, job.seed, job.ratio or 0.0)


def run_job(ctx: Context, job: Job) -> JobResult:
    """Train on the arm's training set, keep the validation-best checkpoint, then score the test images."""
    config = ctx.config
    t0 = time.perf_counter()
    with torch_threads(config.threads):
        items = training_items(ctx.data, job)
        n_extra = sum(it.extra for it in items)
        train_set = SegmentationSet(items, train_augmentation(job.seed, ctx.crop))
        model = build_model(
            config.arch,
            config.encoder,
            seed=job.seed,
            encoder_depth=config.encoder_depth,
            decoder_channels=list(config.decoder_channels),
        )
        keeper = BestCheckpoint(
            ctx.validation,
            config.eval_every,
            config.bins,
            config.batch_size,
            config.dtype,
            config.channels_last,
        )
        trainer = Trainer(model, train_set, config.train_config(job.seed))
        trainer.add_callback("on_batch_end", keeper)
        losses = trainer.run()
        keeper.restore(model)
        threshold = keeper.threshold
        probs = predict(
            model, ctx.test.inputs, config.batch_size, config.device, config.dtype, config.channels_last
        )
    assert keeper.best is not None  # set by the last step's validation
    return JobResult(
        job,
        keeper.curve,
        keeper.best.step,
        keeper.best.val_ap,
        score_images(probs, ctx.test, config.bins, threshold),
        probs[: config.previews],
        len(train_set),
        n_extra,
        losses,
        time.perf_counter() - t0,
    )


_WORKER_CONTEXT: Context | None = None  # set once per worker process by _init_worker


def _init_worker(ctx: Context) -> None:
    global _WORKER_CONTEXT
    torch.set_flush_denormal(True)
    _WORKER_CONTEXT = ctx


def _run_in_worker(job: Job) -> JobResult:
    assert _WORKER_CONTEXT is not None
    return run_job(_WORKER_CONTEXT, job)


class ResultStore(Protocol):
    """Where finished jobs are kept (``downstream.cache.JobCache``)."""

    def get(self, job: Job) -> JobResult | None: ...

    def put(self, result: JobResult) -> None: ...


def run_jobs(
    ctx: Context, jobs: Sequence[Job], desc: str = "benchmark", store: ResultStore | None = None
) -> list[JobResult]:
    """Every job's result in the order given, run here (``workers=1``) or in spawned worker processes.

    With a ``store``, jobs already in it are not trained again and each new result is put there as
    soon as it finishes, so an interrupted benchmark loses at most the jobs that were running.
    """
    found = {job: store.get(job) for job in jobs} if store is not None else {}
    todo = [job for job in jobs if found.get(job) is None]
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, disable=not ctx.config.progress)
    done: dict[Job, JobResult] = {job: r for job, r in found.items() if r is not None}

    def keep(result: JobResult) -> None:
        done[result.job] = result
        if store is not None:
            store.put(result)
        bar.update()

    workers = min(ctx.config.workers, len(todo))
    if workers <= 1:
        for job in todo:
            keep(run_job(ctx, job))
    else:
        with multiprocessing.get_context("spawn").Pool(workers, _init_worker, (ctx,)) as pool:
            for result in pool.imap_unordered(_run_in_worker, todo):
                keep(result)
    bar.close()
    return [done[job] for job in jobs]
