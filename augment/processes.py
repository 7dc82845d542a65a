"""Which process of how many this is, under ``accelerate launch`` / torchrun, and sharing work by rank.

``shard_indices`` is a pure function: the shards of ``0..n-1`` over ``world_size`` ranks are
contiguous, disjoint and cover every index exactly once. ``under_launcher`` tells from the
environment alone whether there are other processes; only then is accelerate's state created.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = [
    "WORLD_SIZE_VARIABLES",
    "is_main_process",
    "process_rank",
    "shard_indices",
    "under_launcher",
    "wait_for_everyone",
]

# The variables accelerate itself reads for the world size (torchrun / ``accelerate launch``, MPI).
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def shard_indices(n: int, rank: int, world_size: int) -> range:
    """The indices of ``0..n-1`` that process ``rank`` of ``world_size`` handles (contiguous block)."""
    for name, value in (("n", n), ("rank", rank), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    return range(n * rank // world_size, n * (rank + 1) // world_size)


def under_launcher() -> bool:
    """Whether a launcher started this process as one of several (read from the environment).

    Cheap and free of side effects, unlike creating accelerate's ``PartialState`` (a per-process
    singleton whose device choice a later ``Accelerator`` cannot change), so library code can ask
    before touching accelerate at all.
    """
    for name in WORLD_SIZE_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return int(value) > 1
            except ValueError:
                raise ValueError(
                    f"environment variable {name} must be an integer world size, got {value!r}; "
                    "unset it, or start the processes with 'accelerate launch'."
                ) from None
    return False


def _state() -> Any:
    """accelerate's per-process state (joins the launcher's process group on first use)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def process_rank() -> tuple[int, int]:
    """(rank, world_size) of this process under ``accelerate launch`` / torchrun; (0, 1) otherwise.

    Without CUDA, several CPU processes need ``accelerate launch --multi_gpu --num_processes N``
    (torchrun + gloo): accelerate 1.15's ``--cpu --num_processes N`` starts ONE process unless MPI
    (``--mpirun_hostfile``) is set up. ``cpu=True`` then makes accelerate join the gloo group.
    """
    state = _state()
    return int(state.process_index), int(state.num_processes)


def is_main_process() -> bool:
    """Whether this is the process that writes shared files (rank 0, or the only process)."""
    return not under_launcher() or process_rank()[0] == 0


def wait_for_everyone() -> None:
    """Block until every launched process gets here (accelerate's barrier); no-op in a lone process."""
    if under_launcher():
        _state().wait_for_everyone()
