"""Multi-process generation: each ``accelerate launch`` rank makes its own share of a bank's indices.

The shares come from ``augment.processes.shard_indices``. Each index has its own seed derived from
``(seed, index)``, so a pair is the same whatever the number of processes, and its file name
carries the index, so no two processes ever write the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augment.data.pairs import write_pair
from augment.loaders.seeds import index_generator
from augment.processes import process_rank, shard_indices
from augment.synth.synthesizer import DefectSynthesizer

__all__ = ["generate_sharded", "pair_name"]


def pair_name(defect: str, index: int) -> str:
    """The bank file stem of pair ``index``: one name per index, whichever process writes it."""
    return f"synth_{defect}_{index:05d}"


def generate_sharded(
    synth: DefectSynthesizer,
    n: int,
    out: str | Path,
    defect: str | None = None,
    seed: int = 0,
    rank: int | None = None,
    world_size: int | None = None,
    **generate_kwargs: Any,
) -> list[int]:
    """Generate this process's share of ``n`` pairs into the bank ``out``; returns the indices written.

    ``rank``/``world_size`` default to the launcher's; ``generate_kwargs`` go to ``synth.generate``.
    """
    if rank is None or world_size is None:
        rank, world_size = process_rank()
    chosen = synth.check_defect(defect)
    product = synth.product or "product"
    written = []
    for index in shard_indices(n, rank, world_size):
        generator = index_generator(seed, index)
        pair = synth.generate(1, defect=chosen, generator=generator, **generate_kwargs)[0]
        pair.record.update(index=index, rank=rank)
        write_pair(out, pair, pair_name(chosen, index), product, chosen)
        written.append(index)
    return written
