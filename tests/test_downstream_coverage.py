"""Whether the synthetic arm's seeds can each draw pairs of their own (`downstream.coverage`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import downstream.jobs
import downstream.provenance
from augment.data.index import index_folder
from augment.data.pairs import SyntheticPair
from augment.data.split import make_split
from downstream.coverage import coverage, coverage_note
from downstream.data import Item
from downstream.jobs import ArmData
from downstream.protocol import BenchmarkConfig, run_benchmark
from tests.tiny_detector import TINY_DETECTOR


@pytest.mark.parametrize(
    ("held", "per_seed", "seeds", "shared", "needed"),
    [(18, 6, 10, True, 60), (60, 6, 10, False, 60), (59, 6, 10, True, 60), (6, 6, 1, False, 6)],
)
def test_seeds_share_pairs_only_when_the_bank_is_smaller_than_their_draws(
    held: int, per_seed: int, seeds: int, shared: bool, needed: int
) -> None:
    cover = coverage({"crack": held}, {"crack": per_seed}, seeds)["crack"]
    assert (cover["shared"], cover["needed"], cover["in_bank"]) == (shared, needed, held)


def test_a_type_missing_from_the_bank_counts_as_none_held() -> None:
    assert coverage({}, {"spot": 2}, 5)["spot"] == {
        "in_bank": 0,
        "per_seed": 2,
        "seeds": 5,
        "needed": 10,
        "shared": True,
    }


def test_the_note_names_the_shared_types_and_the_bank_size_needed() -> None:
    note = coverage_note(coverage({"crack": 18, "spot": 100}, {"crack": 6, "spot": 6}, 10))
    assert note is not None
    assert "18 `crack` pairs for 10 seeds × 6" in note
    assert "`spot`" not in note
    assert "at least 60 pairs per type" in note


def test_no_note_when_every_seed_draws_its_own() -> None:
    assert coverage_note(coverage({"crack": 60}, {"crack": 6}, 10)) is None


def test_zero_seeds_is_refused() -> None:
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        coverage({"crack": 1}, {"crack": 1}, 0)


class _Painter:
    """A stand-in saved synthesizer: each pair's pixels carry the seed it was painted with."""

    kind = "synthesizer"
    origin, fingerprint = "painter", "f"
    defects = ("crack",)

    def __init__(self) -> None:
        self.painted: list[int] = []

    def draw(self, per_defect, images, seed, progress=True):
        self.painted.append(seed)
        return [
            SyntheticPair(
                np.full((8, 8, 3), seed * 10 + k, np.uint8), np.ones((8, 8), np.uint8), {"defect": d}
            )
            for d, n in per_defect.items()
            for k in range(n)
        ]


@pytest.fixture
def painted(monkeypatch: pytest.MonkeyPatch) -> ArmData:
    monkeypatch.setattr(downstream.jobs, "open_source", lambda path: _Painter())
    shot = Item(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.uint8), "crack", "real")
    good = Item(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), "good", "real")
    data = ArmData([shot], [good], "painter")
    data.prepare(["real", "synthetic"], [2.0], [0, 1], progress=False)
    return data


def test_a_synthesizer_paints_each_seed_its_own_pairs(painted: ArmData) -> None:
    firsts = {
        seed: [int(it.image[0, 0, 0]) for it in painted.extra("synthetic", seed, 2.0)] for seed in (0, 1)
    }
    assert firsts == {0: [0, 1], 1: [10, 11]}
    assert painted.held() is None


def test_a_smaller_ratio_takes_the_first_pairs_of_the_seeds_pool(painted: ArmData) -> None:
    assert [int(it.image[0, 0, 0]) for it in painted.extra("synthetic", 1, 1.0)] == [10]


def test_a_rerun_paints_only_the_seeds_whose_jobs_are_not_cached(
    tiny_pills: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    painter = _Painter()
    for module in (downstream.jobs, downstream.provenance):
        monkeypatch.setattr(module, "open_source", lambda path: painter)
    split = make_split(index_folder(tiny_pills))

    def run(seeds: tuple[int, ...]) -> None:
        config = BenchmarkConfig(arms=("synthetic",), seeds=seeds, steps=2, eval_every=2, **TINY_DETECTOR)
        run_benchmark(split, config, synthetic="painter", cache=tmp_path)

    run((0,))
    run((0, 1))
    assert painter.painted == [0, 1]
