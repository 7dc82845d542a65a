"""Whether the synthetic arm's seeds can each draw pairs of their own (`downstream.coverage`)."""

from __future__ import annotations

import pytest

from downstream.coverage import coverage, coverage_note


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
