"""Double-free guidance: the formula, its special cases and its input checks."""

from __future__ import annotations

import pytest
import torch

from augment.synth.guidance import double_free_guidance, split_branches


def _eps(seed: int) -> torch.Tensor:
    return torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(seed))


def test_matches_the_formula() -> None:
    null, product, defect = _eps(0), _eps(1), _eps(2)
    out = double_free_guidance(null, product, defect, w_product=1.5, w_defect=4.0)
    torch.testing.assert_close(out, null + 1.5 * (product - null) + 4.0 * (defect - null))


@pytest.mark.parametrize(("w_p", "w_d", "expected"), [(0, 0, 0), (1, 0, 1), (0, 1, 2)])
def test_unit_weights_select_one_branch(w_p: float, w_d: float, expected: int) -> None:
    branches = (_eps(0), _eps(1), _eps(2))
    torch.testing.assert_close(double_free_guidance(*branches, w_p, w_d), branches[expected])


def test_defect_scale_moves_linearly_away_from_product() -> None:
    null, product, defect = _eps(0), _eps(1), _eps(2)
    weak = double_free_guidance(null, product, defect, 1.0, 1.0)
    strong = double_free_guidance(null, product, defect, 1.0, 3.0)
    torch.testing.assert_close(strong - weak, 2.0 * (defect - null))


def test_split_branches_round_trips_a_batched_call() -> None:
    null, product, defect = _eps(0), _eps(1), _eps(2)
    for got, want in zip(
        split_branches(torch.cat([null, product, defect])), (null, product, defect), strict=True
    ):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize(
    ("shapes", "w_d", "message"),
    [
        (((2, 4), (2, 4), (1, 4)), 1.0, "one shape"),
        (((2, 4), (2, 4), (2, 4)), float("nan"), "w_defect must be a finite number"),
    ],
)
def test_bad_input_raises(shapes: tuple, w_d: float, message: str) -> None:
    tensors = [torch.zeros(shape) for shape in shapes]
    with pytest.raises(ValueError, match=message):
        double_free_guidance(*tensors, w_product=1.0, w_defect=w_d)


def test_split_needs_three_branches() -> None:
    with pytest.raises(ValueError, match="batch of 3 \\* n"):
        split_branches(torch.zeros(4, 1))
