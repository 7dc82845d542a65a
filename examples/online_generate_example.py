"""Online generation: a saved DefectSynthesizer's generate() runs inside the data loader's workers.

python examples/online_generate_example.py --model MODEL_DIR --data DATA_DIR --out OUT_DIR \
    [--n 4] [--workers 2] [--defect TYPE]

MODEL_DIR is the output of ``defect-synth fit`` (or ``DefectSynthesizer.save_pretrained``). Each
worker loads the synthesizer once; every item is a new pair painted into a defect-free image of
DATA_DIR, seeded by (seed, epoch, index), so no two workers paint the same sample. The same folder
also works as ``DefectAugment(MODEL_DIR)`` in an albumentations pipeline (shown on one image).
Writes OUT_DIR/online/ (image + mask PNGs), OUT_DIR/records.jsonl and OUT_DIR/transform.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch.utils.data import DataLoader

from augment.data.imageio import read_image, write_png
from augment.data.index import index_folder
from augment.loaders.transform import DefectAugment
from augment.loaders.wrappers import SyntheticDefectDataset, seed_worker


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="saved DefectSynthesizer folder")
    parser.add_argument("--data", required=True, help="dataset whose defect-free images get defects")
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--defect", action="append", help="defect type (repeatable; default: all)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def generate_in_loader(args: argparse.Namespace, goods: list[Path]) -> list[dict]:
    """Pairs generated on the fly by the loader's workers; writes them and returns their records."""
    dataset = SyntheticDefectDataset(
        args.model, images=goods, length=args.n, defects=args.defect, seed=args.seed
    )
    loader = DataLoader(dataset, batch_size=None, num_workers=args.workers, worker_init_fn=seed_worker)
    records, out = [], Path(args.out) / "online"
    for item in loader:
        i = int(item["record"]["index"])
        write_png(out / f"{i:03d}.png", item["image"].numpy())
        write_png(out / f"{i:03d}_mask.png", item["mask"].numpy())
        records.append({"index": i, **json.loads(item["record"]["generation"])})
    return records


def transform_once(args: argparse.Namespace, good: Path) -> np.ndarray:
    """The same synthesizer as an albumentations transform, on one image."""
    pipeline = A.Compose([DefectAugment(args.model, defects=args.defect, p=1.0)], seed=args.seed)
    image = read_image(good)
    out = pipeline(image=image, mask=np.zeros(image.shape[:2], np.uint8))
    return np.concatenate([out["image"], np.repeat(out["mask"][..., None] * 255, 3, axis=2)], axis=1)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_flush_denormal(True)
    goods = [s.image for s in index_folder(args.data).samples if s.is_good]
    records = generate_in_loader(args, goods)
    with open(Path(args.out) / "records.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    write_png(Path(args.out) / "transform.png", transform_once(args, goods[0]))
    print(f"generated {len(records)} pairs online with {args.workers} workers into {args.out}")


if __name__ == "__main__":
    main()
