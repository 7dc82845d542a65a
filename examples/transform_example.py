"""DefectAugment in an albumentations pipeline: writes a few augmented image/mask pairs.

python examples/transform_example.py --bank BANK_DIR --data DATA_DIR --out OUT_DIR [--n 4]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import albumentations as A

from augment.data.dataset import DefectDataset
from augment.data.imageio import write_png
from augment.data.index import index_folder
from augment.loaders.transform import DefectAugment


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", required=True, help="bank of pairs or saved synthesizer")
    parser.add_argument("--data", required=True, help="dataset whose defect-free images get defects")
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pipeline = A.Compose([DefectAugment(args.bank, p=1.0), A.HorizontalFlip()], seed=args.seed)
    goods = [s for s in index_folder(args.data).samples if s.is_good]
    dataset = DefectDataset(goods, transform=pipeline)
    for i in range(min(args.n, len(dataset))):
        item = dataset[i]
        write_png(Path(args.out) / f"{i:03d}.png", item["image"])
        write_png(Path(args.out) / f"{i:03d}_mask.png", item["mask"])
    print(f"wrote {min(args.n, len(dataset))} pairs to {args.out}")


if __name__ == "__main__":
    main()
