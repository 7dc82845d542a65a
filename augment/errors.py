"""The library's own error classes, at the bottom of the house so every floor can raise them.

Input problems are ``ValueError`` subclasses (the command line prints their message without a
traceback); failures while working (a diverged fit, too few pairs) are ``RuntimeError`` subclasses.
"""

from __future__ import annotations

__all__ = ["BackboneNotFoundError", "DataError", "TooFewPairsError", "TrainingDivergedError"]


class DataError(ValueError):
    """A dataset file or folder is not usable; the message names the file and the fix."""


class BackboneNotFoundError(DataError):
    """The checkpoint's files are not on this machine (or the folder is not a diffusers pipeline)."""


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class TooFewPairsError(RuntimeError):
    """Generation ran out of attempts before enough pairs passed the quality filter."""
