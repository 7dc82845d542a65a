"""Smoke test of examples/boxes_example.py: boxes through DefectAugment, a collate of varying box
counts in a 2-worker DataLoader, and a contact sheet."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_boxes_example_writes_boxes_and_a_contact_sheet(
    tiny_pills: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "o"
    argv = [
        "--data",
        str(tiny_pills),
        "--out",
        str(out),
        "--batch-size",
        "3",
        "--batches",
        "2",
        "--workers",
        "2",
    ]
    monkeypatch.setattr(sys, "argv", ["boxes_example.py", *argv])
    runpy.run_path(str(EXAMPLES / "boxes_example.py"), run_name="__main__")
    records = json.loads((out / "boxes.json").read_text())
    assert len(records) == 6
    assert all(len(r["boxes"]) == len(r["labels"]) for r in records)
    assert len({len(r["boxes"]) for r in records}) > 1  # batches hold images with different box counts
    assert sum(len(r["boxes"]) for r in records) >= len(records)  # p=1: a synthetic defect per image
    assert {label for r in records for label in r["labels"]} <= {"crack", "scratch", "spot"}
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size == (4 * 160, 2 * (160 + 14))
