"""End to end: image sets (dataset, bank, plain folder) -> report, with fake networks injected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from augment import cli
from augment.data.imageio import write_png
from augment.data.index import index_folder, load_sample_arrays
from augment.data.pairs import SyntheticPair, write_pair
from augment.errors import DataError
from eval import compare as compare_module
from eval.compare import EvalConfig, evaluate
from eval.report import write_report
from eval.sources import load_image_set
from tests.eval_fakes import _DummyFeatureExtractor, _NoLogitsExtractor, mean_abs_distance


@pytest.fixture(scope="module")
def bank(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bank of 'generated' pairs: real defect images, brightened, with their masks."""
    root = tmp_path_factory.mktemp("bank")
    for i, s in enumerate(x for x in index_folder(tiny_pills).samples if not x.is_good):
        image, mask = load_sample_arrays(s)
        bright = np.clip(image.astype(int) + 40, 0, 255).astype(np.uint8)
        write_pair(root, SyntheticPair(bright, mask, {"seed": i}), f"{i:03d}", "pill", s.defect)
    return root


def test_sources_read_dataset_bank_and_plain_folder(tiny_pills: Path, bank: Path, tmp_path: Path):
    real, fake = load_image_set(tiny_pills), load_image_set(bank)
    assert real.kind.startswith("dataset")
    assert fake.kind == "bank"
    assert sorted(real.images) == sorted(fake.images) == ["crack", "scratch", "spot"]
    assert len(real.files()) == len(real.mask_files()) == 18
    write_png(tmp_path / "a" / "x.png", np.zeros((8, 8, 3), np.uint8))
    plain = load_image_set(tmp_path)
    assert (plain.kind, list(plain.images)) == ("folder", ["all"])


def test_sources_filter_and_errors(tiny_pills: Path, tmp_path: Path):
    assert list(load_image_set(tiny_pills, ["crack"]).images) == ["crack"]
    with pytest.raises(DataError, match="no images of types"):
        load_image_set(tiny_pills, ["dent"])
    with pytest.raises(DataError, match="does not exist"):
        load_image_set(tmp_path / "missing")


def test_evaluate_per_defect_with_all_metrics(tiny_pills: Path, bank: Path):
    cfg = EvalConfig(kid_subsets=5, lpips_size=32)
    report = evaluate(
        load_image_set(tiny_pills),
        load_image_set(bank),
        cfg,
        extractor=_DummyFeatureExtractor(),
        per_defect=True,
        distance=mean_abs_distance,
    )
    assert list(report["comparisons"]) == ["all", "crack", "scratch", "spot"]
    crack = report["comparisons"]["crack"]
    assert crack["n_real"] == crack["n_fake"] == 6
    assert crack["kid"]["subset_size"] == 6
    assert crack["masks"]["ks_statistic"] == 0.0  # same masks on both sides
    assert crack["ic_lpips"]["value"] > 0
    assert crack["is_fake"]["mean"] >= 1.0
    assert report["features"]["network"] == "dummy-projection"


def test_evaluate_real_vs_itself_is_perfect(tiny_pills: Path):
    real = load_image_set(tiny_pills)
    report = evaluate(real, real, EvalConfig(metrics=("fid", "prc")), extractor=_DummyFeatureExtractor())
    result = report["comparisons"]["all"]
    assert result["fid"] == pytest.approx(0.0, abs=1e-6)
    assert (result["prc"]["precision"], result["prc"]["recall"]) == (1.0, 1.0)


def test_unavailable_metrics_say_why(tiny_pills: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(compare_module, "lpips_unavailable_reason", lambda net: "no LPIPS weights here")
    real = load_image_set(tiny_pills, ["crack"])
    report = evaluate(
        real, real, EvalConfig(metrics=("is", "lpips", "prc"), k=10), extractor=_NoLogitsExtractor()
    )
    result = report["comparisons"]["all"]
    assert "no classifier head" in result["is_fake"]["unavailable"]
    assert result["ic_lpips"]["unavailable"] == "no LPIPS weights here"
    assert "at least 11 images" in result["prc"]["unavailable"]


def test_report_files_state_provenance_and_fid_bias(tiny_pills: Path, bank: Path, tmp_path: Path):
    report = evaluate(
        load_image_set(tiny_pills),
        load_image_set(bank),
        EvalConfig(metrics=("fid", "kid")),
        extractor=_DummyFeatureExtractor(),
    )
    json_path, md_path = write_report(report, tmp_path / "rep.json")
    assert json.loads(json_path.read_text())["features"]["resize_mode"] == "clean"
    md = md_path.read_text()
    assert "biased upwards at small N" in md
    assert "dummy-projection" in md


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metrics"):
        EvalConfig(metrics=("fid", "psnr"))


def test_cli_evaluate_writes_report(
    tiny_pills: Path, bank: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(compare_module, "load_inception", _DummyFeatureExtractor)
    out = tmp_path / "report"
    code = cli.main(
        [
            "evaluate",
            "--real",
            str(tiny_pills),
            "--fake",
            str(bank),
            "--metrics",
            "fid,kid,prc",
            "--per-defect",
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "report.json").read_text())
    assert set(data["comparisons"]) == {"all", "crack", "scratch", "spot"}
    assert "is_fake" not in data["comparisons"]["all"]
    assert list((tmp_path / "cache").glob("*.npz"))


def test_per_defect_evaluation_extracts_each_image_once(tiny_pills: Path, bank: Path):
    class Counting(_DummyFeatureExtractor):
        seen = 0

        def forward(self, x):
            Counting.seen += x.shape[0]
            return super().forward(x)

    real, fake = load_image_set(tiny_pills), load_image_set(bank)
    evaluate(real, fake, EvalConfig(metrics=("kid",), kid_subsets=2), extractor=Counting(), per_defect=True)
    assert Counting.seen == len(real.files()) + len(fake.files())


def test_evaluate_places_the_network_and_records_it(tiny_pills: Path):
    real = load_image_set(tiny_pills)
    report = evaluate(
        real,
        real,
        EvalConfig(metrics=("prc",)),
        extractor=_DummyFeatureExtractor(),
        device="cpu",
        dtype="bf16",
    )
    assert report["features"]["dtype"] == "bf16"
    assert report["device"] == "cpu"
    assert report["comparisons"]["all"]["prc"]["precision"] == 1.0
