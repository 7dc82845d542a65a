"""Dataset wrappers in a DataLoader with worker processes: real + synthetic at a ratio, and synthetic only.

python examples/wrapper_example.py --source BANK_OR_MODEL_DIR --data DATA_DIR --out OUT_DIR \
    [--ratio 0.5] [--workers 2] [--epochs 2] [--n 4]

Writes OUT_DIR/summary.json (real/synthetic counts per epoch of the mixed loader) and OUT_DIR/
synthetic/ (image + mask PNGs from the synthetic-only loader).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from augment.data.dataset import DefectDataset
from augment.data.imageio import write_png
from augment.data.index import index_folder
from augment.loaders.wrappers import MixedDefectDataset, SyntheticDefectDataset, seed_worker


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="bank of pairs or saved synthesizer folder")
    parser.add_argument("--data", required=True, help="dataset whose defect-free images get defects")
    parser.add_argument("--out", required=True)
    parser.add_argument("--ratio", type=float, default=0.5, help="share of samples given a defect")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n", type=int, default=4, help="synthetic-only samples to write")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def loader(dataset: Any, args: argparse.Namespace, batch_size: int | None) -> DataLoader:
    """Workers re-created each epoch (not persistent), so `set_epoch` reaches their dataset copies."""
    return DataLoader(dataset, batch_size=batch_size, num_workers=args.workers, worker_init_fn=seed_worker)


def mixed_counts(args: argparse.Namespace) -> list[dict[str, int]]:
    """Real/synthetic counts per epoch of an existing dataset wrapped by MixedDefectDataset."""
    goods = [s for s in index_folder(args.data).samples if s.is_good]
    mixed = MixedDefectDataset(
        DefectDataset(goods), synthetic_ratio=args.ratio, source=args.source, seed=args.seed
    )
    counts = []
    for epoch in range(args.epochs):
        mixed.set_epoch(epoch)
        seen: Counter[str] = Counter()
        for batch in loader(mixed, args, args.batch):
            seen.update(batch["record"]["source"])
        counts.append(dict(seen))
    return counts


def write_synthetic(args: argparse.Namespace) -> int:
    """`n` defects painted/pasted into the defect-free images by SyntheticDefectDataset."""
    goods = [s.image for s in index_folder(args.data).samples if s.is_good]
    synthetic = SyntheticDefectDataset(args.source, images=goods, length=args.n, seed=args.seed)
    out = Path(args.out) / "synthetic"
    for item in loader(synthetic, args, None):
        i = int(item["record"]["index"])
        write_png(out / f"{i:03d}.png", item["image"].numpy())
        write_png(out / f"{i:03d}_mask.png", item["mask"].numpy())
    return len(synthetic)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    summary = {"ratio": args.ratio, "workers": args.workers, "epochs": mixed_counts(args)}
    summary["synthetic_written"] = write_synthetic(args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
