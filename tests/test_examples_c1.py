"""Smoke tests of the example scripts: they run on a tiny bank and write what they say."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from augment.data.index import index_folder
from augment.loaders.paste_bank import build_paste_bank

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [script, *argv])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")


def test_transform_example_writes_pairs(tiny_pills: Path, tmp_path: Path, monkeypatch) -> None:
    bank = build_paste_bank(tiny_pills, tmp_path / "bank")
    _run(
        "transform_example.py",
        ["--bank", str(bank), "--data", str(tiny_pills), "--out", str(tmp_path / "o"), "--n", "2"],
        monkeypatch,
    )
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "000.png",
        "000_mask.png",
        "001.png",
        "001_mask.png",
    ]


def test_export_example_writes_a_readable_dataset(tiny_pills: Path, tmp_path: Path, monkeypatch) -> None:
    bank = build_paste_bank(tiny_pills, tmp_path / "bank")
    _run(
        "export_example.py",
        ["--model", str(bank), "--data", str(tiny_pills), "--out", str(tmp_path / "o"), "--ratio", "0.5"],
        monkeypatch,
    )
    assert index_folder(tmp_path / "o").counts()["pill"]["crack"] == 9
