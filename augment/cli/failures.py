"""What the command line prints when a command fails, so that no user sees a raw traceback.

* A **library error** (a `ValueError`/`DataError`, `TrainingDivergedError` or `TooFewPairsError`
  raised by the project's own code, which names the file and the fix) is one ``error:`` line.
* A **failed write** (full disk, file-size limit, quota, permissions; `augment.data.outputs`) is
  one ``error:`` line naming the file.
* Anything else escaped the library's own checks: ``internal error in <step>: <type>: <message>``
  and the path of a log file holding the traceback (``DEFECT_SYNTH_LOG_DIR``, else a
  ``defect-synth-logs`` folder in the system's temporary folder). Exit code 3.

A numpy ``ValueError`` such as ``high <= 0`` is an internal error, not a library one: what counts is
where the exception was raised, not its type. The step is the command's name, or the demo's step
(`mark_step`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from augment.data.outputs import write_failure
from augment.errors import LIBRARY_ERRORS

__all__ = ["INTERNAL_EXIT", "describe_failure", "is_library_error", "log_dir", "mark_step", "write_log"]

INTERNAL_EXIT = 3
STEP_ATTRIBUTE = "defect_synth_step"
# The packages whose own raise statements are library errors (the project's code).
PROJECT_DIRS = tuple(Path(__file__).resolve().parents[2] / name for name in ("augment", "downstream", "eval"))


def is_library_error(exc: BaseException) -> bool:
    """A library error type, raised by a ``raise`` in the project's own code."""
    if not isinstance(exc, LIBRARY_ERRORS):
        return False
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return False
    origin = Path(last.tb_frame.f_code.co_filename).resolve()
    return any(origin.is_relative_to(d) for d in PROJECT_DIRS)


def mark_step(exc: BaseException, step: str) -> None:
    """Remember in which step ``exc`` happened (the first step to mark it wins)."""
    if not hasattr(exc, STEP_ATTRIBUTE):
        with contextlib.suppress(AttributeError):  # an exception type with __slots__
            setattr(exc, STEP_ATTRIBUTE, step)


def log_dir() -> Path:
    return Path(os.environ.get("DEFECT_SYNTH_LOG_DIR") or Path(tempfile.gettempdir()) / "defect-synth-logs")


def write_log(command: str, argv: Sequence[str], exc: BaseException) -> Path:
    """Write the traceback of ``exc`` with the command line and versions; returns the file."""
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    header = [
        f"defect-synth {' '.join(argv)}",
        f"python {platform.python_version()} on {platform.platform()}",
        "",
    ]
    path.write_text("\n".join(header) + "".join(traceback.format_exception(exc)))
    return path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= 300 else line[:297] + "..."


def describe_failure(command: str, argv: Sequence[str], exc: BaseException) -> tuple[str, int]:
    """(message for stderr, exit code) of a command that raised ``exc``; see the module docstring."""
    if is_library_error(exc):
        return f"defect-synth {command}: error: {exc}", 1
    why = write_failure(exc)
    if why is not None:
        where = getattr(exc, "filename", None)
        target = f"could not write {where}" if where else "a write failed"
        return (
            f"defect-synth {command}: error: {target}: {why} ({_first_line(exc)}). Free space (or lift the "
            "limit), or choose another output folder.",
            1,
        )
    step = getattr(exc, STEP_ATTRIBUTE, command)
    head = f"defect-synth {command}: internal error in {step}: {type(exc).__name__}: {_first_line(exc)}"
    try:
        log = write_log(command, argv, exc)
    except OSError as log_exc:
        trace = "".join(traceback.format_exception(exc))
        return (
            f"{head}\n(no log file could be written: {log_exc}; the traceback follows)\n{trace}",
            INTERNAL_EXIT,
        )
    return f"{head} (traceback in {log}; please report it with that file)", INTERNAL_EXIT
