"""``defect-synth index DIR``: check a dataset folder and print what the library sees in it.

Every file is decoded once; all invalid files are reported together, grouped by reason with the
fix, or, with ``--skip-invalid``, listed and left out (also in the split saved by ``--save-split``).
"""

from __future__ import annotations

import argparse
import json

from augment.cli.common import add_bit_depth, add_skip_invalid, index_from_args
from augment.data.split import make_split

# library argument spellings in error messages -> this command's flags
FLAGS = {"pass skip_invalid=True": "pass --skip-invalid", "bit_depth must": "--bit-depth must"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="dataset folder (MVTec AD or generic layout)")
    parser.add_argument("--layout", choices=["auto", "mvtec", "generic"], default="auto")
    parser.add_argument(
        "--defect", action="append", dest="defects", help="keep only this defect type (repeat)"
    )
    parser.add_argument("--product", help="keep one product of a multi-product folder")
    parser.add_argument(
        "--shots", type=int, default=None, help="K shots per defect type (default: first third)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-split", help="write the few-shot split to this JSON file")
    parser.add_argument("--json", action="store_true", help="print the full summary as JSON")
    add_skip_invalid(parser)
    add_bit_depth(parser)


def run(args: argparse.Namespace) -> int:
    index = index_from_args(args, args.layout, report=not args.json)
    split = make_split(index, shots=args.shots, seed=args.seed)
    if args.json:
        print(json.dumps(index.summary() | {"split": split.summary()}, indent=2))
    else:
        depth = f", 16-bit images read as {index.bit_depth}-bit" if index.bit_depth else ""
        print(f"{index.root} ({index.layout} layout, fingerprint {index.fingerprint()}{depth})")
        for product, counts in index.counts().items():
            print(f"  {product}: " + ", ".join(f"{d}={n}" for d, n in counts.items()))
        s = split.summary()
        print(
            f"  split {s['protocol']} seed {s['seed']}: shots={s['shots']} val_defects={s['val_defects']} "
            f"test_defects={s['test_defects']} good_train={s['good_train']} good_val={s['good_val']} "
            f"good_test={s['good_test']}"
        )
        for path, reason in index.skipped:
            print(f"  skipped {path}: {reason}")
    if args.save_split:
        print(f"split saved to {split.save(args.save_split)}")
    return 0
