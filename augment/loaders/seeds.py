"""Where every loader's per-sample randomness comes from, and the one retry rule.

A sample's seed is a pure function of (seed, epoch, index, attempt) (`sample_seed`), so whatever
DataLoader worker or launched process makes it, the same sample comes out. A source may fail to
place a defect (`make` returns None); `first_pair` then tries the next attempt's seed, up to
`MAKE_TRIES`. The torch wrappers and export draw through both; the transform draws its defect
with `pick_defect` from its own generator (albumentations' rule); sharded generation seeds each
index with `index_generator`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from augment.data.pairs import SyntheticPair

__all__ = ["MAKE_TRIES", "first_pair", "index_generator", "pick_defect", "sample_seed"]

MAKE_TRIES = 8


def sample_seed(seed: int, epoch: int, index: int, attempt: int = 0) -> int:
    """A 31-bit seed that is a pure function of its arguments (distinct tuples, independent seeds)."""
    return int(np.random.SeedSequence([seed, epoch, index, attempt]).generate_state(1)[0] >> 1)


def index_generator(seed: int, index: int) -> np.random.Generator:
    """The generator of item ``index`` of a seeded job: the same whichever process makes it."""
    return np.random.default_rng([seed, index])


def pick_defect(defects: Sequence[str], wanted: Sequence[str] | None, rng: np.random.Generator) -> str:
    """One defect type among `wanted` (all of the source's when None), uniformly."""
    pool = list(wanted) if wanted else list(defects)
    return pool[int(rng.integers(len(pool)))]


def first_pair(
    make: Callable[[int], SyntheticPair | None], seed: int, epoch: int, index: int, tries: int = MAKE_TRIES
) -> SyntheticPair | None:
    """``make(s)`` over the sample seeds of (seed, epoch, index, 0..tries-1): the first pair, or None."""
    for attempt in range(tries):
        pair = make(sample_seed(seed, epoch, index, attempt))
        if pair is not None:
            return pair
    return None
