"""The library's own error classes, at the bottom of the house so every floor can raise them.

Input problems are ``ValueError`` subclasses (the command line prints their message without a
traceback); failures while working (a diverged fit, too few pairs) are ``RuntimeError`` subclasses.
An output location that cannot be used or written (a file where a folder is expected, read-only,
full, holding data the command did not make) is an ``OutputError``.
"""

from __future__ import annotations

__all__ = [
    "LIBRARY_ERRORS",
    "BackboneNotFoundError",
    "DataError",
    "InvalidFilesError",
    "OutputError",
    "TooFewPairsError",
    "TrainingDivergedError",
]


class DataError(ValueError):
    """A dataset file or folder is not usable; the message names the file and the fix."""


class InvalidFilesError(DataError):
    """Files of a dataset cannot be used (unreadable, mask missing, empty or of another size); the
    message lists all of them, grouped by reason with the fix."""


class BackboneNotFoundError(DataError):
    """The checkpoint's files are not on this machine (or the folder is not a diffusers pipeline)."""


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class TooFewPairsError(RuntimeError):
    """Generation ran out of attempts before enough pairs passed the quality filter."""


class OutputError(DataError):
    """An output folder or file cannot be used or written; the message names it and the fix."""


# The errors the library raises for a cause the user can fix; anything else is an internal error.
LIBRARY_ERRORS = (ValueError, TrainingDivergedError, TooFewPairsError)
