"""Samples per second of a plain loader vs the same loader with DefectAugment from a bank.

    python benchmarks/loader_bench.py [--size 256] [--workers 2] [--epochs 11] [--no-foreground-cache]

Same images, same workers, same pipeline otherwise, measured side by side (epochs interleaved)
in one run; prints the median rates and the median of the per-epoch ratios (each defect epoch
over the plain epoch run just before it, so slow drifts of a shared machine cancel), with its
range (target >= 0.9). The bank source memoises each
image's coarse foreground, so from the second epoch on an image costs only its paste;
``--no-foreground-cache`` measures the cost when every image is new (e.g. DefectAugment after a
random crop).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A
from torch.utils.data import DataLoader

from augment.data.dataset import DefectDataset
from augment.data.demo_data import make_demo_dataset
from augment.data.index import index_folder
from augment.loaders import sources
from augment.loaders.paste_bank import build_paste_bank
from augment.loaders.transform import DefectAugment
from augment.loaders.wrappers import seed_worker


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=11)
    parser.add_argument("--p", type=float, default=0.5)
    parser.add_argument("--no-foreground-cache", action="store_true", help="estimate every foreground")
    return parser.parse_args(argv)


def epoch_rate(loader: DataLoader) -> float:
    start, n = time.perf_counter(), 0
    for batch in loader:
        n += len(batch["image"])
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.no_foreground_cache:
        sources.FOREGROUND_CACHE_SIZE = 0  # inherited by the (forked) workers
    with tempfile.TemporaryDirectory() as tmp:
        data = make_demo_dataset(
            Path(tmp) / "data",
            n_good_train=args.images,
            n_good_test=2,
            n_per_defect=6,
            size=args.size,
            seed=0,
            progress=False,
        )
        bank = build_paste_bank(data, Path(tmp) / "bank", per_shot=4)
        goods = [s for s in index_folder(data).samples if s.is_good]
        geometric = [A.HorizontalFlip(), A.RandomRotate90()]
        pipelines = {
            "plain": A.Compose(geometric, seed=0),
            "defect": A.Compose([DefectAugment(str(bank), p=args.p), *geometric], seed=0),
        }
        loaders = {
            k: DataLoader(
                DefectDataset(goods, t),
                batch_size=args.batch,
                num_workers=args.workers,
                worker_init_fn=seed_worker,
                persistent_workers=args.workers > 0,
            )
            for k, t in pipelines.items()
        }
        for loader in loaders.values():
            epoch_rate(loader)  # warm-up: workers started, bank loaded
        rates: dict[str, list[float]] = {k: [] for k in loaders}
        for _ in range(args.epochs):
            for k, loader in loaders.items():
                rates[k].append(epoch_rate(loader))
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratios = [d / p for d, p in zip(rates["defect"], rates["plain"], strict=True)]
    print(
        f"images {len(goods)} at {args.size}px, workers {args.workers}, batch {args.batch}, "
        f"DefectAugment p={args.p}, epochs {args.epochs} (medians), "
        f"foreground cache {'off' if args.no_foreground_cache else 'on'}"
    )
    for k, v in med.items():
        print(f"{k:>7}: {v:8.1f} samples/s")
    print(
        f"  ratio: {statistics.median(ratios):.3f} median of per-epoch ratios "
        f"(range {min(ratios):.3f}-{max(ratios):.3f}; ratio of medians "
        f"{med['defect'] / med['plain']:.3f}; target >= 0.9)"
    )


if __name__ == "__main__":
    main()
