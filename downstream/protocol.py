"""The benchmark protocol: every arm trained the same way, every choice made on validation, every
reported number measured on test.

For each seed and arm (and, under ``synthetic_ratio="auto"``, each ratio of the grid): the
training set is the few-shot defect images (not for the ``-only`` arms) plus the defect-free
training images of the split, plus the arm's extra pairs (``downstream.arms``); a model is built
and trained with that seed for the same number of steps, validated every ``eval_every`` steps; the
checkpoint with the best validation pixel AP is kept, the F1 / IoU threshold chosen on its
validation pixels (``downstream.selection``). Only then is it scored on the split's **test** part
(test defects plus defect-free test images, never validation images), predictions upsampled to each
image's own size. Metrics are kept over all test images and per defect type (that type's test images
plus all defect-free test images), and each arm's paired difference to ``real`` gets a bootstrap
interval over seeds × test images (``downstream.stats``); so does each model arm's difference to
the arm pasting the same real shots (``downstream.arms.RIVALS``: ``synthetic`` against
``copy-paste``), the second bar a model has to clear.
"""

from __future__ import annotations

import logging
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augment.data.index import Sample, load_sample_arrays
from augment.data.resize import resize_image, resize_mask
from augment.data.split import FewShotSplit
from augment.loaders.sources import describe
from downstream.arms import RIVALS, check_arms, pair_source
from downstream.cache import JobCache
from downstream.config import BenchmarkConfig
from downstream.coverage import coverage
from downstream.data import Item, target_size
from downstream.jobs import ArmData, Context, Job, JobResult, run_jobs, to_items
from downstream.provenance import BankCheck, check_source
from downstream.scoring import RunScores, load_eval_set, run_metrics, scope_indices
from downstream.selection import choose_ratio
from downstream.shots import Setting, label, sweep_splits
from downstream.stats import STAT_METRICS, paired_bootstrap

logger = logging.getLogger(__name__)

BASELINE = "real"
VERSIONED = (
    "defect-synth",
    "torch",
    "segmentation-models-pytorch",
    "albumentations",
    "numpy",
    "scikit-learn",
    "timm",
    "torchmetrics",
    "diffusers",
    "peft",
    "transformers",
    "accelerate",
)


def library_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine(config: BenchmarkConfig) -> dict[str, Any]:
    """Where the numbers were made: device (and GPU name), threads per job, worker processes."""
    device = torch.device(config.device)
    return {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "dtype": config.dtype,
        "threads_per_job": config.threads,
        "workers": config.workers,
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def load_items(samples: Sequence[Sample], size: tuple[int, int], source: str) -> list[Item]:
    items = []
    for s in samples:
        image, mask = load_sample_arrays(s)
        items.append(Item(resize_image(image, size), resize_mask(mask, size), s.defect, source))
    return items


def check_split(split: FewShotSplit) -> None:
    """The split must have shots, defect-free training images, validation and test defects."""
    if not split.shots or not split.good_train or not split.test_defects:
        raise ValueError(
            f"the split needs shots, defect-free training images and test defects; it has "
            f"{len(split.shots)}, {len(split.good_train)} and {len(split.test_defects)}."
        )
    split.require_validation()


def distinct_ratios(ratios: Sequence[float], counts: Callable[[float], dict[str, int]]) -> list[float]:
    """``ratios`` less those adding the same pairs per type as a smaller one (at one shot per type,
    0.5 and 1 both add one pair: the same data and seed, so the same run, trained once)."""
    first: dict[tuple[tuple[str, int], ...], float] = {}  # each distinct count: the smallest ratio giving it
    for ratio in sorted(ratios, reverse=True):
        first[tuple(sorted(counts(ratio).items()))] = ratio
    return [r for r in ratios if r in first.values()]


def plan_jobs(
    arms: Sequence[str], config: BenchmarkConfig, ratios: Sequence[float] | None = None
) -> list[Job]:
    """Every (seed, arm, ratio) to train: one run per seed for ``real``, one per ratio (of ``ratios``,
    default the config's) for the others."""
    return [
        Job(arm, seed, ratio)
        for seed in config.seeds
        for arm in arms
        for ratio in ((None,) if pair_source(arm) is None else (ratios or config.ratios))
    ]


def keep_chosen_ratio(results: Sequence[JobResult]) -> tuple[list[JobResult], dict[str, Any]]:
    """Per arm, the runs at the ratio with the best mean validation AP; and the search record."""
    by_arm: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.job.ratio is not None:
            by_arm[r.job.arm][r.job.ratio].append(r.best_val_ap)
    chosen = {arm: choose_ratio(aps) for arm, aps in by_arm.items()}
    kept = [r for r in results if r.job.ratio is None or r.job.ratio == chosen[r.job.arm]]
    search = {
        arm: {"chosen": chosen[arm], "mean_val_ap": {str(k): float(np.nanmean(v)) for k, v in aps.items()}}
        for arm, aps in by_arm.items()
    }
    return kept, search


def arm_scores(kept: Sequence[JobResult], seeds: Sequence[int]) -> dict[str, list[RunScores]]:
    """Each arm's test scores, one per seed in ``seeds`` order (what the intervals pair)."""
    runs = {(r.job.arm, r.job.seed): r.scores for r in kept}
    arms = dict.fromkeys(r.job.arm for r in kept)
    return {arm: [runs[(arm, s)] for s in seeds] for arm in arms if all((arm, s) in runs for s in seeds)}


def intervals(
    scores: dict[str, list[RunScores]],
    defects: Sequence[str],
    n_boot: int,
    baselines: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``out[scope][arm][metric]``: paired difference of each arm to its baseline with its bootstrap
    interval; ``baselines`` maps an arm to the arm it is compared with (default: every arm to
    ``real``), pairs with a missing arm are left out. The ``k``-th run of an arm is paired with the
    ``k``-th run of its baseline (same seed, and draw of shots)."""
    if baselines is None:
        baselines = {arm: BASELINE for arm in scores if arm != BASELINE}
    pairs = {arm: base for arm, base in baselines.items() if arm in scores and base in scores}
    if not pairs:
        return {}
    out: dict[str, Any] = {}
    for scope, idx in scope_indices(defects).items():
        out[scope] = {
            arm: {
                m: iv.to_dict()
                for m, iv in paired_bootstrap(
                    [s.subset(idx) for s in scores[arm]],
                    [s.subset(idx) for s in scores[base]],
                    STAT_METRICS,
                    n_boot,
                ).items()
            }
            for arm, base in pairs.items()
        }
    return out


def rivals(scores: dict[str, list[RunScores]]) -> dict[str, str]:
    """The model arms run here and the copy-paste arm each is compared with (``RIVALS``)."""
    return {arm: rival for arm, rival in RIVALS.items() if arm in scores and rival in scores}


def comparisons(scores: dict[str, list[RunScores]], defects: Sequence[str], n_boot: int) -> dict[str, Any]:
    """Every arm's intervals to ``real``, and each model arm's to its copy-paste rival."""
    pairs = rivals(scores)
    return {
        "intervals": intervals(scores, defects, n_boot),
        "rivals": pairs,
        "rival_intervals": intervals(scores, defects, n_boot, pairs),
    }


def run_benchmark(
    split: FewShotSplit,
    config: BenchmarkConfig | None = None,
    synthetic: str | Path | None = None,
    cache: str | Path | None = None,
) -> dict[str, Any]:
    """Train, choose on validation and test every (seed, arm); the JSON-friendly result plus ``previews``.

    ``cache``: a folder keeping each finished job (``downstream.cache``): a rerun with more arms or
    after an interruption trains only what is missing.
    """
    t_start = time.perf_counter()
    config = config or BenchmarkConfig()
    arms = check_arms(config.arms, synthetic)
    check_split(split)
    size = target_size(load_sample_arrays(split.good_train[0])[0].shape, config.resolution)
    shots, goods = load_items(split.shots, size, "real"), load_items(split.good_train, size, "real")
    validation = load_eval_set(split.validation, size)
    test = load_eval_set(split.test, size, config.previews)
    crop = None if config.crop is None else (min(config.crop, size[0]), min(config.crop, size[1]))
    bank = BankCheck()
    if synthetic is not None and "synthetic" in map(pair_source, arms):
        bank = check_source(synthetic, split)
    data = ArmData(shots, goods, synthetic, bank.left_out)
    source = data.source()
    store = (
        None
        if cache is None
        else JobCache(cache, config, split.to_dict(), describe(source) if source else None)
    )
    ratios = distinct_ratios(config.ratios, data.counts)
    if len(ratios) < len(config.ratios):
        logger.info(
            "ratios %s add the same pairs as a smaller one here: not trained",
            sorted(set(config.ratios) - set(ratios)),
        )
    jobs = plan_jobs(arms, config, ratios)
    paints = source is not None and source.kind == "synthesizer"  # a bank's pairs need no painting
    to_paint = [
        j.seed
        for j in jobs
        if paints and pair_source(j.arm) == "synthetic" and (store is None or store.get(j) is None)
    ]
    data.prepare(arms, config.ratios, sorted(set(to_paint)), config.progress)  # a synthesizer's, not cached
    ctx = Context(config, data, validation, test, crop)
    results = run_jobs(ctx, jobs, store=store)
    kept, search = keep_chosen_ratio(results)
    scores = arm_scores(kept, config.seeds)
    scopes = scope_indices(test.defects)
    runs = [
        r.record() | {"metrics": {scope: run_metrics(r.scores.subset(idx)) for scope, idx in scopes.items()}}
        for r in kept
    ]
    first = {r.job.arm: r for r in kept if r.job.seed == config.seeds[0]}
    held = data.held() if "synthetic" in map(pair_source, arms) else None
    return {
        "config": config.to_dict(),
        "arms": arms,
        "input_size": list(size),
        "split": split.summary(),
        "split_files": split.to_dict(),
        "scored_on": "test",
        "synthetic_source": describe(source) if source else None,
        "synthetic_left_out": len(bank.left_out),
        "synthetic_shots_checked": bank.checked,
        "synthetic_coverage": None
        if held is None
        else coverage(held, data.counts(max(ratios)), len(config.seeds)),
        "extra_per_defect": {a: data.counts(search[a]["chosen"] if a in search else 0) for a in search},
        "ratio_search": search,
        "ratios_trained": ratios,  # the config's ratios less those adding the same pairs (distinct_ratios)
        "machine": machine(config),
        "versions": library_versions(),
        "runs": runs,
        "discarded_runs": [r.record() for r in results if all(r is not k for k in kept)],
        **comparisons(scores, test.defects, config.n_boot),
        "scores": scores,  # per arm and seed, for intervals pooled over draws (not written to JSON)
        "test_defects": list(test.defects),
        "wall_s": time.perf_counter() - t_start,
        "previews": {
            "originals": test.originals,
            "masks": test.masks[: config.previews],
            "defects": test.defects[: config.previews],
            "probs": {arm: r.previews for arm, r in first.items()},
            "thresholds": {arm: r.scores.threshold for arm, r in first.items()},
        },
    }


def run_sweep(
    base: FewShotSplit,
    settings: Sequence[Setting],
    config: BenchmarkConfig | None = None,
    synthetic: str | Path | None = None,
    cache: str | Path | None = None,
    draws: int = 1,
) -> dict[str, Any]:
    """``run_benchmark`` at each number of shots (``downstream.shots``; ``draws`` draws of the shots
    of each K-shot setting), on the same validation and test images."""
    t_start = time.perf_counter()
    entries = []
    for setting, draw, split in sweep_splits(base, list(settings), draws):
        logger.info("benchmark with %s", label(setting, draw))
        entries.append(
            {
                "setting": setting,
                "draw": draw,
                "label": label(setting, draw),
                "shots_per_defect": {d: len(rows) for d, rows in sorted(split.shots_by_defect().items())},
                "result": run_benchmark(split, config, synthetic, cache),
            }
        )
    n_boot = (config or BenchmarkConfig()).n_boot
    return {
        "settings": entries,
        "pooled": pooled_over_draws(entries, n_boot),
        "wall_s": time.perf_counter() - t_start,
    }


def pooled_over_draws(entries: Sequence[dict[str, Any]], n_boot: int) -> list[dict[str, Any]]:
    """For each setting run on several draws of its shots: every arm's paired difference to ``real``
    pooled over draws × seeds × test images (each run paired with ``real`` of its draw and seed)."""
    out = []
    for setting in dict.fromkeys(e["setting"] for e in entries):
        results = [e["result"] for e in entries if e["setting"] == setting]
        arms = [a for a in results[0]["scores"] if all(a in r["scores"] for r in results)]
        if len(results) < 2 or BASELINE not in arms or len(arms) < 2:
            continue
        scores = {a: [s for r in results for s in r["scores"][a]] for a in arms}
        out.append(
            {
                "setting": setting,
                "label": label(setting),
                "draws": len(results),
                **comparisons(scores, results[0]["test_defects"], n_boot),
            }
        )
    return out


__all__ = ["BASELINE", "BenchmarkConfig", "library_versions", "run_benchmark", "run_sweep", "to_items"]
