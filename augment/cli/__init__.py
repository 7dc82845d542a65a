"""The ``defect-synth`` command line: one subcommand per job the product does.

Each subcommand lives in its own module of this package, exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them up, so adding a job never touches another. The
library raises ValueError (DataError included) with messages in terms of its arguments; here they
become one ``error:`` line without a traceback (``-v`` shows it), the arguments a command module
lists in its ``FLAGS`` spelled as that command's flags. Any other exception is an internal error,
printed as one line with the path of a log file holding its traceback (`augment.cli.failures`).
Commands that compute take ``--threads``; the thread count is chosen here before they run
(`augment.threads`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from augment.cli import benchmark, demo, evaluate, export, fit, generate, index, paste
from augment.cli.failures import describe_failure
from augment.threads import set_threads

__all__ = ["COMMANDS", "build_parser", "in_flags", "main"]

# name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[ModuleType, str]] = {
    "demo": (demo, "run the end-to-end demo on the embedded default (no downloads)"),
    "index": (index, "index a dataset folder and report counts, skipped files and errors"),
    "fit": (fit, "fine-tune a synthesizer on the few shots of each defect type"),
    "generate": (generate, "generate synthetic defect image + mask pairs"),
    "paste": (paste, "a bank of the shots' real defects pasted into defect-free images (no model)"),
    "export": (export, "export an augmented dataset (MVTec layout + manifest)"),
    "benchmark": (benchmark, "downstream benchmark: real-only vs real+synthetic vs copy-paste"),
    "evaluate": (evaluate, "generation metrics: FID, KID, IS, precision/recall, LPIPS"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="defect-synth", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command is None:
        parser.print_help()
        return 2
    module, _ = COMMANDS[args.command]
    try:
        if hasattr(args, "threads"):
            set_threads(args.threads)
        return int(module.run(args))
    except Exception as exc:  # a message, never a raw traceback (see augment.cli.failures)
        if args.verbose:
            raise
        message, code = describe_failure(args.command, argv, exc)
        print(in_flags(message, module) if code == 1 else message, file=sys.stderr)
        return code


def in_flags(message: str, command: ModuleType) -> str:
    """A library message with the argument spellings it names replaced by the command's flags
    (the command module's ``FLAGS``: argument spelling -> flag)."""
    flags: dict[str, str] = getattr(command, "FLAGS", {})
    for argument, flag in flags.items():
        message = message.replace(argument, flag)
    return message
