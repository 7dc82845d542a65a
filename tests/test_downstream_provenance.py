"""A bank's pairs checked against the split they are benchmarked on (`downstream.provenance`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from augment.data.index import index_folder
from augment.data.pairs import read_manifest
from augment.data.split import FewShotSplit, make_split
from augment.errors import DataError
from augment.loaders.copy_paste import BankSource
from augment.loaders.paste_bank import build_paste_bank
from augment.synth.synthesizer import DefectSynthesizer
from downstream.config import BenchmarkConfig
from downstream.jobs import ArmData
from downstream.protocol import run_benchmark
from downstream.provenance import check_bank, check_source, sample_key
from downstream.report import SWEEP_LEAK_NOTE, markdown
from downstream.shots import fewer_shots
from tests.tiny_detector import TINY_DETECTOR

TINY = TINY_DETECTOR | {"previews": 1, "n_boot": 20}


@pytest.fixture(scope="module")
def split(tiny_pills: Path) -> FewShotSplit:
    return make_split(index_folder(tiny_pills))


@pytest.fixture(scope="module")
def paste_bank(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_paste_bank(tiny_pills, tmp_path_factory.mktemp("pb") / "bank", per_shot=2)


def _record(product: str, defect: str, shot: str, name: str = "p") -> dict[str, str]:
    return {"product": product, "defect": defect, "shot": shot, "name": name}


@pytest.mark.parametrize("part", ["val_defects", "test_defects"])
def test_a_bank_pasted_from_held_out_images_is_refused(split: FewShotSplit, part: str) -> None:
    held = getattr(split, part)[0]
    records = [_record(*sample_key(split.shots[0])), _record(*sample_key(held))]
    with pytest.raises(DataError, match=f"holds out for validation or test.*{held.image.name}"):
        check_bank(records, split, "bank")


def test_pastes_of_shots_a_setting_drops_are_left_out(split: FewShotSplit, paste_bank: Path) -> None:
    records = read_manifest(paste_bank)
    one = fewer_shots(split, 1, seed=0)
    check = check_bank(records, one, str(paste_bank))
    kept_shots = {r["shot"] for r in records if r["name"] not in check.left_out}
    assert check.checked
    assert check.left_out
    assert kept_shots == {s.image.name for s in one.shots}
    assert check_bank(records, split, str(paste_bank)).left_out == []


@pytest.mark.parametrize(
    "record",
    [{"defect": "crack", "name": "model-made"}, _record("another-product", "crack", "000.png")],
)
def test_pairs_that_name_no_dataset_shot_are_kept_but_not_checked(
    split: FewShotSplit, record: dict[str, str]
) -> None:
    check = check_bank([record], split, "bank")
    assert check.left_out == []
    assert not check.checked


def _painted(paths: list[Path]) -> dict[str, object]:
    return {"defect": "crack", "name": "painted", "model_shots": [str(p) for p in paths]}


@pytest.mark.parametrize("part", ["val_defects", "test_defects"])
def test_pairs_of_a_model_fitted_on_held_out_images_are_refused(split: FewShotSplit, part: str) -> None:
    held = getattr(split, part)[0]
    record = _painted([split.shots[0].image, held.image])
    with pytest.raises(DataError, match=f"model that was fitted on 1 image.*{held.image.name}.*fit --split"):
        check_bank([record], split, "bank")


@pytest.mark.parametrize(("fitted_on", "checked"), [("setting", True), ("all shots", False)])
def test_model_pairs_are_checked_only_when_the_model_saw_just_the_settings_shots(
    split: FewShotSplit, fitted_on: str, checked: bool
) -> None:
    one = fewer_shots(split, 1, seed=0)
    seen = one.shots if fitted_on == "setting" else split.shots
    check = check_bank([_painted([s.image for s in seen])], one, "bank")
    assert check.left_out == []
    assert check.checked is checked


def test_pairs_of_a_model_fitted_on_the_settings_shots_pass_the_check(split: FewShotSplit) -> None:
    one = fewer_shots(split, 1, seed=0)
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(one, defects=["crack"], steps=1, batch_size=2, progress=False)
    pairs = synth.generate(
        2, defect="crack", mode="harmonize", steps=1, generator=0, quality_filter=False, progress=False
    )
    assert pairs[0].record["model_shots"] == [str(s.image) for s in one.shots if s.defect == "crack"]
    assert check_bank([p.record for p in pairs], one, "bank").checked


def test_a_saved_synthesizer_fitted_on_a_test_image_is_refused(split: FewShotSplit, tmp_path: Path) -> None:
    held = split.test_defects[0]
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(replace(split, shots=[held]), defects=[held.defect], steps=1, batch_size=2, progress=False)
    synth.save_pretrained(tmp_path / "model")
    with pytest.raises(DataError, match=f"model .* was fitted on 1 image.*{held.image.name}"):
        check_source(tmp_path / "model", split)


def test_a_bank_view_never_draws_its_left_out_pairs(paste_bank: Path) -> None:
    bank = BankSource(paste_bank)
    records = read_manifest(paste_bank)
    cracks = [r["name"] for r in records if r["defect"] == "crack"]
    view = bank.without(cracks[1:])
    drawn = view.draw({"crack": 10}, [], seed=0)
    assert [p.record["name"] for p in drawn] == cracks[:1]
    assert view.fingerprint != bank.fingerprint
    assert bank.without([]) is bank


def test_a_bank_counts_only_the_pairs_it_can_draw(paste_bank: Path) -> None:
    bank = BankSource(paste_bank)
    records = read_manifest(paste_bank)
    cracks = [r["name"] for r in records if r["defect"] == "crack"]
    assert bank.counts() == {d: sum(r["defect"] == d for r in records) for d in bank.defects}
    assert bank.without(cracks[1:]).counts()["crack"] == 1


def test_a_bank_with_every_pair_of_a_type_left_out_says_why(paste_bank: Path) -> None:
    names = [r["name"] for r in read_manifest(paste_bank) if r["defect"] == "spot"]
    with pytest.raises(DataError, match="does not train on"):
        BankSource(paste_bank).without(names).draw({"spot": 1}, [], seed=0)


def test_the_benchmark_data_draws_only_pastes_of_the_split_shots(
    split: FewShotSplit, paste_bank: Path
) -> None:
    one = fewer_shots(split, 1, seed=0)
    data = ArmData([], [], paste_bank, check_bank(read_manifest(paste_bank), one, "").left_out)
    source = data.source()
    assert source is not None
    drawn = source.draw({"crack": 2, "scratch": 2, "spot": 2}, [], seed=0)
    assert {(p.record["defect"], p.record["shot"]) for p in drawn} == {
        (s.defect, s.image.name) for s in one.shots
    }


def test_a_one_shot_benchmark_reports_the_pastes_it_left_out(split: FewShotSplit, paste_bank: Path) -> None:
    one = fewer_shots(split, 1, seed=0)
    config = BenchmarkConfig(arms=("synthetic-only",), seeds=(0,), steps=2, eval_every=2, **TINY)
    result = run_benchmark(one, config, synthetic=paste_bank)
    assert result["synthetic_left_out"] == len(check_bank(read_manifest(paste_bank), one, "").left_out) > 0
    assert result["synthetic_shots_checked"]
    sweep = {"settings": [{"setting": 1, "label": "1 shot", "result": result}] * 2, "wall_s": 0.0}
    text = markdown(sweep)
    assert SWEEP_LEAK_NOTE not in text
    assert f"{result['synthetic_left_out']} pairs of the synthetic bank left out" in text
    assert "made only from this setting's shots (checked" in text
