"""``defect-synth export``: write a dataset plus synthetic defects to disk (MVTec layout + manifest).

``--format coco`` / ``--format yolo`` (repeatable) add box labels for detectors: ``coco.json`` and a
``yolo/`` view with ``data.yaml``, for the real and the synthetic images alike.

Under ``accelerate launch -m augment.cli export ...`` each process writes its share and prints
its own counts (``rank``, ``world_size``, ``written_now``); see `augment.loaders.export`.
"""

from __future__ import annotations

import argparse
import json
import sys

from augment.cli.common import DEVICE_FLAGS, add_device, add_skip_invalid, add_threads
from augment.loaders.box_labels import FORMATS
from augment.loaders.export import export_dataset
from augment.masks.boxes import DEFAULT_MIN_AREA

# library argument spellings in error messages -> this command's flags
FLAGS = {
    "overwrite=True": "--overwrite",
    "min_area must": "--min-area must",
    "skip_invalid=True": "--skip-invalid",
    **DEVICE_FLAGS,
}


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
    parser.add_argument(
        "--format",
        action="append",
        choices=FORMATS,
        default=None,
        help="repeatable: mvtec (images, masks, manifest: always written), coco (coco.json), "
        "yolo (yolo/ with labels and data.yaml)",
    )
    parser.add_argument(
        "--min-area",
        type=int,
        default=DEFAULT_MIN_AREA,
        help="coco/yolo: defect components smaller than this many pixels get no box",
    )
    add_skip_invalid(parser)
    add_threads(parser)
    add_device(parser, "precision a saved synthesizer paints in (default: as saved; fp16 needs a GPU)")


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
        formats=args.format or ["mvtec"],
        min_area=args.min_area,
        skip_invalid=args.skip_invalid,
        device=args.device,
        dtype=args.dtype,
    )
    # One write for the whole line: launched processes share stdout, and print() under
    # PYTHONUNBUFFERED writes the newline separately, so two ranks' lines could run together.
    sys.stdout.write(json.dumps({"out": args.out, **counts}) + "\n")
    return 0
