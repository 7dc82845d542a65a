"""The ``defect-synth`` command line: one subcommand per job the product does.

Each built subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them up, so adding a job never touches another.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

# name -> (module implementing it, or None while it is not built yet; one-line help)
COMMANDS: dict[str, tuple[str | None, str]] = {
    "demo": ("augment.demo_job", "run the end-to-end demo on the embedded default (no downloads)"),
    "index": ("augment.index_cmd", "index a dataset folder and report counts, skipped files and errors"),
    "fit": ("augment.fit_cmd", "fine-tune a synthesizer on the few shots of each defect type"),
    "generate": ("augment.generate_cmd", "generate synthetic defect image + mask pairs"),
    "export": ("augment.export_cmd", "export an augmented dataset (MVTec layout + manifest)"),
    "benchmark": ("downstream.cli", "downstream benchmark: real-only vs real+synthetic vs copy-paste"),
    "evaluate": ("eval.cli", "generation metrics: FID, KID, IS, precision/recall, LPIPS"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="defect-synth", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        label = help_text if module else f"{help_text} [not built yet]"
        p = sub.add_parser(name, help=label, description=label)
        if module is not None:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command is None:
        parser.print_help()
        return 2
    module, _ = COMMANDS[args.command]
    if module is not None and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if module is None:
        print(
            f"defect-synth {args.command}: not built yet in this version. "
            f"Run 'defect-synth --help' for the commands that are.",
            file=sys.stderr,
        )
        return 2
    try:
        return int(importlib.import_module(module).run(args))
    except ValueError as exc:  # DataError and every input check: a message, not a traceback
        if args.verbose:
            raise
        print(f"defect-synth {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
