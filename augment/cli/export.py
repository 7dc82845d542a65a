"""``defect-synth export``: write a dataset plus synthetic defects to disk (MVTec layout + manifest).

Under ``accelerate launch -m augment.cli export ...`` each process writes its share and prints
its own counts (``rank``, ``world_size``, ``written_now``); see `augment.loaders.export`.
"""

from __future__ import annotations

import argparse
import json
import sys

from augment.loaders.export import export_dataset

# library argument spellings in error messages -> this command's flags
FLAGS = {"overwrite=True": "--overwrite"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="saved synthesizer folder, or a bank of pairs")
    parser.add_argument("--data", required=True, help="dataset folder (MVTec or generic layout)")
    parser.add_argument("--out", required=True, help="output folder (empty, or this export's earlier output)")
    parser.add_argument("--ratio", type=float, default=2.0, help="synthetic pairs per real defect image")
    parser.add_argument(
        "--defect", action="append", default=None, help="defect type (repeatable; default all)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strength", type=float, default=1.0, help="defect strength in [0, 1]")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty output folder's contents"
    )


def run(args: argparse.Namespace) -> int:
    counts = export_dataset(
        args.model,
        args.data,
        args.out,
        ratio=args.ratio,
        defects=args.defect,
        seed=args.seed,
        strength=args.strength,
        overwrite=args.overwrite,
    )
    # One write for the whole line: launched processes share stdout, and print() under
    # PYTHONUNBUFFERED writes the newline separately, so two ranks' lines could run together.
    sys.stdout.write(json.dumps({"out": args.out, **counts}) + "\n")
    return 0
