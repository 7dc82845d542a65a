"""Strength sweep: a row weak -> strong from one seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.synth.sweep import strength_sweep
from augment.synth.synthesizer import DefectSynthesizer


@pytest.fixture(scope="module")
def fitted(tiny_pills: Path) -> DefectSynthesizer:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=2, progress=False)
    return synth


def test_row_goes_from_source_to_strongest(fitted: DefectSynthesizer, tmp_path: Path) -> None:
    path, pairs = strength_sweep(fitted, tmp_path / "row.png", "spot", (1.0, 0.0, 0.5), seed=2, steps=4)
    assert [p.record["strength"] for p in pairs] == [0.0, 0.5, 1.0]
    changes = [int(np.abs(p.image.astype(int) - pairs[0].image.astype(int)).sum()) for p in pairs]
    assert changes[0] == 0 < changes[2]
    width, height = Image.open(path).size
    assert width > 2 * height  # one row of three tiles


def test_text2img_sweep_changes_with_strength(fitted: DefectSynthesizer, tmp_path: Path) -> None:
    _, pairs = strength_sweep(fitted, tmp_path / "t.png", "spot", (0.0, 1.0), seed=2, steps=3, mode="text2img",
                              guidance=6.0)  # fmt: skip
    assert np.abs(pairs[0].image.astype(int) - pairs[1].image.astype(int)).max() > 0


@pytest.mark.parametrize(
    ("strengths", "message"), [((), "strengths is empty"), ((0.5, 1.5), r"lie in \[0, 1\]")]
)
def test_bad_strengths_raise(
    fitted: DefectSynthesizer, tmp_path: Path, strengths: tuple, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        strength_sweep(fitted, tmp_path / "x.png", "spot", strengths)
