"""Online generation: a tiny saved synthesizer used by SynthesizerSource, DefectAugment and the example."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import albumentations as A
import numpy as np
import pytest

from augment.data.index import index_folder, load_sample_arrays
from augment.loaders.sources import SynthesizerSource, open_source
from augment.loaders.transform import DefectAugment
from augment.synth.synthesizer import DefectSynthesizer

synthesizer = pytest.importorskip(
    "augment.synth.synthesizer",
    reason="augment/synth/synthesizer.py (DefectSynthesizer) is not in this checkout",
)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def model(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=2, progress=False)
    return str(synth.save_pretrained(tmp_path_factory.mktemp("model")))


@pytest.fixture(scope="module")
def good(tiny_pills: Path) -> tuple[np.ndarray, np.ndarray]:
    return load_sample_arrays(next(s for s in index_folder(tiny_pills).samples if s.is_good))


def test_a_saved_synthesizer_folder_opens_as_an_online_source(model: str, good) -> None:
    source = open_source(model)
    assert isinstance(source, SynthesizerSource)
    assert source.defects == ["spot"]
    pair = source.make(good[0], "spot", 1.0, seed=3)
    assert pair is not None
    assert pair.record["defect"] == "spot"
    assert pair.mask.any()


def test_defect_augment_paints_with_the_synthesizer_and_is_seeded(model: str, good) -> None:
    image, mask = good
    runs = [A.Compose([DefectAugment(model, p=1.0)], seed=2)(image=image, mask=mask) for _ in range(2)]
    assert runs[0]["mask"].any()
    assert not np.array_equal(runs[0]["image"], image)
    assert np.array_equal(runs[0]["image"], runs[1]["image"])


def test_online_example_generates_in_two_workers(
    model: str, tiny_pills: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "o"
    argv = ["--model", model, "--data", str(tiny_pills), "--out", str(out), "--n", "2", "--workers", "2"]
    monkeypatch.setattr(sys, "argv", ["online_generate_example.py", *argv])
    runpy.run_path(str(EXAMPLES / "online_generate_example.py"), run_name="__main__")
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in records) == [0, 1]
    assert all(r["defect"] == "spot" and r["model_fingerprint"] for r in records)
    assert records[0]["seed"] != records[1]["seed"]
    assert sorted(p.name for p in (out / "online").iterdir()) == [
        "000.png",
        "000_mask.png",
        "001.png",
        "001_mask.png",
    ]
    assert (out / "transform.png").is_file()
