"""Smoke test of examples/wrapper_example.py: mixed + synthetic datasets in a 2-worker DataLoader."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from augment.data.imageio import read_mask
from augment.loaders.paste_bank import build_paste_bank

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_wrapper_example_gives_the_ratio_and_writes_synthetic_pairs(
    tiny_pills: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = build_paste_bank(tiny_pills, tmp_path / "bank")
    out = tmp_path / "o"
    argv = ["--source", str(bank), "--data", str(tiny_pills), "--out", str(out), "--ratio", "0.5", "--n", "3"]
    monkeypatch.setattr(sys, "argv", ["wrapper_example.py", *argv])
    runpy.run_path(str(EXAMPLES / "wrapper_example.py"), run_name="__main__")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == [{"real": 9, "synthetic": 9}] * 2  # 18 good images, ratio 0.5
    masks = sorted((out / "synthetic").glob("*_mask.png"))
    assert [p.name for p in masks] == ["000_mask.png", "001_mask.png", "002_mask.png"]
    assert all(read_mask(p).any() for p in masks)
