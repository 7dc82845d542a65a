"""``defect-synth paste``: a bank of the real shots' defects pasted into defect-free images, with no
model. The baseline every generator must beat, and on KSDD the synthetic source with the best
validation AP so far (Poisson cloning, ``--blend seamless``, the default here)."""

from __future__ import annotations

import argparse
import itertools
import time
from typing import get_args

from augment.cli.common import add_skip_invalid
from augment.cli.generate import write_generated_sheet
from augment.data.pairs import iter_bank, read_manifest
from augment.files import CONTACT_SHEET
from augment.loaders.paste_bank import build_paste_bank
from augment.masks.paste import Blend

# library argument spellings in error messages -> this command's flags
FLAGS = {
    "skip_invalid=True": "--skip-invalid",
    "per_shot must": "--per-shot must",
    "blend must": "--blend must",
    "pass append=True to add new pairs under new names, or choose": "choose",
}

SHEET_ROWS = 12  # pairs shown on the contact sheet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", required=True, help="dataset folder: its shots (first third) and defect-free images"
    )
    parser.add_argument(
        "--out", required=True, help="new or empty bank folder (MVTec layout + manifest.jsonl)"
    )
    parser.add_argument("--per-shot", type=int, default=6, help="pastes of each shot (default: %(default)s)")
    parser.add_argument(
        "--blend",
        choices=get_args(Blend),
        default="seamless",
        help="Poisson cloning, so the defect takes the new surface's tone (default), or feathered alpha",
    )
    parser.add_argument("--seed", type=int, default=0, help="split, placement and warps (default: 0)")
    add_skip_invalid(parser)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    out = build_paste_bank(
        args.data, args.out, args.per_shot, args.seed, args.blend, args.skip_invalid, progress=True
    )
    seconds = time.perf_counter() - start
    sheet = write_generated_sheet(out / CONTACT_SHEET, list(itertools.islice(iter_bank(out), SHEET_ROWS)))
    print(f"wrote {len(read_manifest(out))} pairs to {out} in {seconds:.1f} s; contact sheet {sheet}")
    return 0
