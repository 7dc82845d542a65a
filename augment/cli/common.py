"""Flags and messages several commands share: ``--skip-invalid``, ``--threads``, ``--device`` /
``--dtype``, the skipped-files list."""

from __future__ import annotations

import argparse
from collections import Counter

from augment.data.index import DatasetIndex, Layout, index_folder
from augment.devices import DEVICE_CHOICES, DTYPE_CHOICES

__all__ = [
    "DEVICE_FLAGS",
    "add_bit_depth",
    "add_device",
    "add_skip_invalid",
    "add_threads",
    "index_from_args",
    "report_invalid",
]

# library argument spellings in device and dtype messages -> the flags (for each command's FLAGS)
DEVICE_FLAGS = {
    "device=": "--device ",
    "dtype=": "--dtype ",
    "device must be": "--device must be",
    "dtype must be": "--dtype must be",
}


def add_skip_invalid(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="go on without dataset files that cannot be used (unreadable, empty or missing mask, "
        "size mismatch), listing them; without it every such file is reported and nothing runs",
    )


def add_bit_depth(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bit-depth",
        type=int,
        default=None,
        metavar="BITS",
        help="significant bits of the dataset's 16-bit images (default: the bits PNG sBIT chunks state, "
        "else the bits the dataset's brightest pixel needs: 10, 12, 14 or 16)",
    )


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for torch (default: chosen from the cores free now; see augment.threads)",
    )


def add_device(parser: argparse.ArgumentParser, dtype_help: str, dtype_default: str | None = None) -> None:
    """``--device`` (default auto: the GPU when there is one) and ``--dtype`` (see augment.devices;
    ``dtype_default`` None: the command's models keep their own)."""
    parser.add_argument(
        "--device",
        default="auto",
        help=f"{DEVICE_CHOICES} (default: auto, the GPU when torch sees one, else the CPU)",
    )
    parser.add_argument("--dtype", choices=list(DTYPE_CHOICES), default=dtype_default, help=dtype_help)


def report_invalid(index: DatasetIndex, name: str = "") -> None:
    """Print the files ``--skip-invalid`` left out of ``index`` (nothing when there are none)."""
    if not index.invalid:
        return
    reasons = Counter(i.reason for i in index.invalid)
    summary = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
    print(f"skipped {len(index.invalid)} invalid files of {name or index.root} (--skip-invalid): {summary}")
    for item in index.invalid:
        print(f"  skipped {item.path} ({item.reason}): {item.detail}")


def index_from_args(args: argparse.Namespace, layout: Layout = "auto", report: bool = True) -> DatasetIndex:
    """The index of ``--data`` with the command's ``--defect``, ``--product``, ``--skip-invalid`` and
    ``--bit-depth``; the files it skipped are printed when ``report``."""
    index = index_folder(
        args.data,
        layout=layout,
        defects=args.defects,
        product=args.product,
        skip_invalid=args.skip_invalid,
        bit_depth=args.bit_depth,
    )
    if report:
        report_invalid(index)
    return index
