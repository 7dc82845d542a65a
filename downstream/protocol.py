"""The benchmark protocol: every arm trained the same way, every model tested on the same images.

For each seed and arm: the training set is the few-shot defect images plus the defect-free
training images of the split, plus the arm's extra pairs (downstream.arms); a model is built and
trained with that seed for the same number of steps; it is scored on the split's test defects plus
defect-free test images, predictions upsampled to each image's own size. Metrics are kept over
all test images and per defect type (that type's test images plus all defect-free test images).

A saved synthesizer is asked for its pairs once (seed of the first run) and the same pairs serve
every seed, as a bank would; copy-paste, procedural and perlin pairs are redrawn with each seed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from augment.data.index import GOOD, Sample, load_sample_arrays
from augment.data.pairs import SyntheticPair
from augment.data.resize import resize_image, resize_mask
from augment.data.split import FewShotSplit
from augment.loaders.sources import describe, open_source
from downstream.arms import check_arms, copy_paste_pairs, perlin_pairs, procedural_pairs, synthetic_pairs
from downstream.data import Item, SegmentationSet, target_size, train_augmentation
from downstream.metrics import DEFAULT_BINS, SegmentationMetrics
from downstream.trainer import TrainConfig, Trainer, build_model, predict

logger = logging.getLogger(__name__)

VERSIONED = (
    "defect-synth",
    "torch",
    "segmentation-models-pytorch",
    "albumentations",
    "numpy",
    "scikit-learn",
    "timm",
    "torchmetrics",
)


@dataclass
class BenchmarkConfig:
    """Everything that changes a benchmark's numbers besides the data and the synthetic source."""

    arms: Sequence[str] = ("real", "copy-paste")
    seeds: Sequence[int] = (0, 1, 2)
    steps: int = 300
    resolution: int = 256
    crop: int | None = None
    batch_size: int = 8
    lr: float = 1e-3
    loss: str = "dice+bce"
    defect_fraction: float = 0.5
    real_defect_share: float = 0.5
    arch: str = "Unet"
    encoder: str = "resnet18"
    encoder_depth: int = 5
    decoder_channels: Sequence[int] = (256, 128, 64, 32, 16)
    synthetic_ratio: float = 2.0
    bins: int = DEFAULT_BINS
    previews: int = 4
    progress: bool = True

    def __post_init__(self) -> None:
        if len(self.seeds) < 1 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {list(self.seeds)}.")
        if self.synthetic_ratio <= 0:
            raise ValueError(
                f"synthetic_ratio must be > 0 (extra pairs per real shot), got {self.synthetic_ratio}."
            )
        if self.crop is not None and (self.crop < 32 or self.crop % 32):
            raise ValueError(f"crop must be None (whole images) or a multiple of 32 px, got {self.crop}.")
        if len(self.decoder_channels) != self.encoder_depth:
            raise ValueError(
                f"decoder_channels needs one width per encoder stage ({self.encoder_depth}), "
                f"got {list(self.decoder_channels)}."
            )
        self.train_config(0)

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            steps=self.steps,
            batch_size=self.batch_size,
            lr=self.lr,
            loss=self.loss,
            defect_fraction=self.defect_fraction,
            real_defect_share=self.real_defect_share,
            seed=seed,
            progress=self.progress,
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class TestSet:
    """Test images at model input size, their masks at full size, their defect types."""

    inputs: np.ndarray
    masks: list[np.ndarray]
    defects: list[str]
    originals: list[np.ndarray] = field(default_factory=list)


def library_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def load_items(samples: Sequence[Sample], size: tuple[int, int], source: str) -> list[Item]:
    items = []
    for s in samples:
        image, mask = load_sample_arrays(s)
        items.append(Item(resize_image(image, size), resize_mask(mask, size), s.defect, source))
    return items


def load_test_set(split: FewShotSplit, size: tuple[int, int], previews: int) -> TestSet:
    """The split's test defects then defect-free test images; the first ``previews`` originals kept."""
    inputs, masks, defects, originals = [], [], [], []
    for k, s in enumerate(split.test):
        image, mask = load_sample_arrays(s)
        inputs.append(resize_image(image, size))
        masks.append(mask)
        defects.append(s.defect)
        if k < previews:
            originals.append(image)
    return TestSet(np.stack(inputs), masks, defects, originals)


def evaluate(probs: np.ndarray, test: TestSet, bins: int) -> dict[str, dict[str, float]]:
    """Metrics over all test images and per defect type, predictions upsampled to each mask."""
    types = sorted({d for d in test.defects if d != GOOD})
    metrics = {scope: SegmentationMetrics(bins=bins) for scope in ["all", *types]}
    for p, mask, defect in zip(probs, test.masks, test.defects, strict=True):
        full = np.clip(cv2.resize(p, (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_LINEAR), 0, 1)
        for scope in ("all", *(types if defect == GOOD else [defect])):
            metrics[scope].update(full, mask)
    return {scope: m.compute() for scope, m in metrics.items()}


def extra_counts(split: FewShotSplit, ratio: float) -> dict[str, int]:
    """Extra pairs per defect type: ``ratio`` times its number of shots (at least one)."""
    return {d: max(1, round(ratio * len(rows))) for d, rows in split.shots_by_defect().items()}


def _to_items(pairs: Sequence[SyntheticPair], size: tuple[int, int], source: str) -> list[Item]:
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
    """Builds each arm's extra pairs at model input size; holds the cached synthesizer pool."""

    def __init__(
        self,
        split: FewShotSplit,
        config: BenchmarkConfig,
        synthetic: str | Path | None,
        shots: list[Item],
        goods: list[Item],
    ) -> None:
        self.config, self.shots, self.goods = config, shots, goods
        self.counts = extra_counts(split, config.synthetic_ratio)
        self.source = open_source(synthetic) if synthetic is not None else None
        self._pool: list[SyntheticPair] | None = None

    def extra(self, arm: str, seed: int) -> list[Item]:
        size = self.goods[0].image.shape[:2]
        goods = [g.image for g in self.goods]
        if arm == "copy-paste":
            shots = [(s.image, s.mask, s.defect) for s in self.shots]
            return _to_items(copy_paste_pairs(shots, goods, self.counts, seed), size, arm)
        if arm == "procedural":
            return _to_items(procedural_pairs(goods, self.counts, seed), size, arm)
        if arm == "perlin":
            return _to_items(perlin_pairs(goods, self.counts, seed), size, arm)
        if arm == "synthetic":
            assert self.source is not None  # checked by check_arms
            if self.source.kind != "synthesizer":  # banks and copy-paste redraw with each seed
                return _to_items(synthetic_pairs(self.source, self.counts, goods, seed), size, arm)
            if self._pool is None:  # a synthesizer paints once; its pairs serve every seed
                self._pool = synthetic_pairs(self.source, self.counts, goods, seed, self.config.progress)
            return _to_items(self._pool, size, arm)
        return []


def _run_arm(
    data: ArmData, arm: str, seed: int, shots_goods: list[Item], test: TestSet, crop: tuple[int, int] | None
) -> tuple[dict[str, Any], np.ndarray]:
    """Train one model on the real items plus ``arm``'s extra pairs and score it: (run record, probs)."""
    config = data.config
    t0 = time.perf_counter()
    extra = data.extra(arm, seed)
    train_set = SegmentationSet(shots_goods + extra, train_augmentation(seed, crop))
    model = build_model(
        config.arch,
        config.encoder,
        seed=seed,
        encoder_depth=config.encoder_depth,
        decoder_channels=list(config.decoder_channels),
    )
    losses = Trainer(model, train_set, config.train_config(seed)).run()
    probs = predict(model, test.inputs, batch_size=config.batch_size)
    metrics = evaluate(probs, test, config.bins)
    logger.info("%s seed %d: %s", arm, seed, metrics["all"])
    run = {
        "arm": arm,
        "seed": seed,
        "n_extra": len(extra),
        "n_train": len(train_set),
        "loss_first": float(np.mean(losses[:10])),
        "loss_last": float(np.mean(losses[-10:])),
        "seconds": time.perf_counter() - t0,
        "metrics": metrics,
    }
    return run, probs


def run_benchmark(
    split: FewShotSplit, config: BenchmarkConfig | None = None, synthetic: str | Path | None = None
) -> dict[str, Any]:
    """Train and test every (seed, arm); returns the JSON-friendly result plus ``previews`` arrays."""
    t_start = time.perf_counter()
    config = config or BenchmarkConfig()
    arms = check_arms(config.arms, synthetic)
    if not split.shots or not split.good_train or not split.test_defects:
        raise ValueError(
            f"the split needs shots, defect-free training images and test defects; it has "
            f"{len(split.shots)}, {len(split.good_train)} and {len(split.test_defects)}."
        )
    size = target_size(load_sample_arrays(split.good_train[0])[0].shape, config.resolution)
    shots, goods = load_items(split.shots, size, "real"), load_items(split.good_train, size, "real")
    test = load_test_set(split, size, config.previews)
    crop = None if config.crop is None else (min(config.crop, size[0]), min(config.crop, size[1]))
    data = ArmData(split, config, synthetic, shots, goods)
    runs, previews = [], {}
    jobs = [(seed, arm) for seed in config.seeds for arm in arms]
    for seed, arm in tqdm(jobs, desc="benchmark", disable=not config.progress):
        run, probs = _run_arm(data, arm, seed, shots + goods, test, crop)
        runs.append(run)
        if seed == config.seeds[0]:
            previews[arm] = probs[: config.previews]
    return {
        "config": config.to_dict(),
        "arms": arms,
        "input_size": list(size),
        "split": split.summary(),
        "split_files": split.to_dict(),
        "synthetic_source": describe(data.source) if data.source else None,
        "extra_per_defect": data.counts,
        "versions": library_versions(),
        "runs": runs,
        "wall_s": time.perf_counter() - t_start,
        "previews": {
            "originals": test.originals,
            "masks": test.masks[: config.previews],
            "defects": test.defects[: config.previews],
            "probs": previews,
        },
    }


__all__ = ["BenchmarkConfig", "evaluate", "extra_counts", "library_versions", "run_benchmark"]
