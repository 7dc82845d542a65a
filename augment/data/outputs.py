"""Output locations: checked before any work, never another's data, write failures explained.

Rules every command follows (the README's data section states them):

* ``check_location``: the output is a folder (a file there is refused), it can be created and
  written (a probe file is written and removed), and its file system has room for what the
  command writes first, when that can be estimated;
* ``refuse_foreign``: a command writes only into an empty folder or one holding its own earlier
  output (the caller says how to recognise it); never into one holding data it did not make,
  such as the user's dataset;
* ``writing``: a write that fails for a full disk, a file-size limit, a quota or permissions
  becomes an `OutputError` naming the file and the fix, instead of a library's raw message
  (torch's ``enforce fail at inline_container.cc``, safetensors' ``os error 28``).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from augment.errors import OutputError

__all__ = ["check_location", "refuse_foreign", "write_failure", "writing"]

FULL = {errno.ENOSPC: "no space left on the device", errno.EFBIG: "file-size limit reached"}
if hasattr(errno, "EDQUOT"):
    FULL[errno.EDQUOT] = "disk quota exceeded"
DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)
_OS_ERROR = re.compile(r"os error (\d+)")
# torch.save reports a failed write as a RuntimeError from its zip writer
_TORCH_WRITE = ("inline_container", "file write failed", "PytorchStreamWriter failed")


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def write_failure(exc: BaseException) -> str | None:
    """Why a write failed, when ``exc`` is a full disk, a size limit, a quota or a refusal; else None."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code is None:
        found = _OS_ERROR.search(str(exc))
        code = int(found.group(1)) if found else None
    if code in FULL:
        return FULL[code]
    if code in DENIED:
        return os.strerror(code).lower()
    if isinstance(exc, RuntimeError) and any(s in str(exc) for s in _TORCH_WRITE):
        return "the write failed (full disk or file-size limit)"
    return None


@contextmanager
def writing(path: str | Path, hint: str = "") -> Iterator[None]:
    """Turn a failed write of ``path`` (see `write_failure`) into an `OutputError` with the fix."""
    try:
        yield
    except OutputError:
        raise
    except Exception as exc:
        why = write_failure(exc)
        if why is None:
            raise
        raise OutputError(
            f"could not write {path}: {why}. Free space (or lift the limit), or choose another output "
            f"folder.{' ' + hint if hint else ''}"
        ) from exc


def _probe(folder: Path) -> None:
    """Write and remove a small file in ``folder``: the one test of writability that cannot lie."""
    probe = folder / f".defect-synth-probe-{uuid.uuid4().hex[:8]}"
    with open(probe, "wb") as f:
        f.write(b"0")
    probe.unlink()


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself or its nearest existing parent folder (where a new output would be created)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_location(out: str | Path, what: str, need_bytes: int = 0) -> Path:
    """The resolved output folder path, once it is known to be usable; nothing is created.

    Refused with an `OutputError` (before any work): a file at that path, a folder that cannot be
    written (an existing one gets a probe file; for a new one, its nearest existing parent must
    allow creating it), less than ``need_bytes`` free on its file system.
    """
    path = Path(out).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise OutputError(
            f"{what} {path} is a file, not a folder; give the path of a folder (created if missing)."
        )
    base = _existing_ancestor(path)
    try:
        if not base.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{base} is a file", str(base))
        if base == path:
            _probe(path)
        elif not os.access(base, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(base))
    except OSError as exc:
        raise OutputError(
            f"{what} {path} cannot be written ({exc.strerror or exc}); choose a folder you can write to, "
            "or fix its permissions."
        ) from exc
    free = shutil.disk_usage(base).free
    if free < need_bytes:
        raise OutputError(
            f"{what} {path} has {_mib(free)} free but needs at least {_mib(need_bytes)} for its first "
            "files; free space, or choose a folder on another disk."
        )
    return path


def refuse_foreign(out: Path, what: str, owns: Callable[[Path], bool], fix: str) -> bool:
    """Whether ``out`` holds this command's earlier output (True) or nothing (False); an
    `OutputError` when it holds anything else, naming a few of the entries found."""
    if not out.is_dir():
        return False
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return False
    if owns(out):
        return True
    shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
    raise OutputError(
        f"{what} {out} is not empty and holds data this command did not make ({shown}); it never "
        f"writes into such a folder. {fix}"
    )
