"""The shots sweep: settings parsed, fewer shots on the same validation and test images, shots.png."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from augment.cli import main
from augment.data.index import index_folder
from augment.data.split import PARTS, load_split
from downstream.config import BenchmarkConfig
from downstream.protocol import run_sweep
from downstream.report import SWEEP_LEAK_NOTE, markdown, write_report
from downstream.shots import base_split, fewer_shots, label, parse_shots, sweep_splits


@pytest.mark.parametrize(
    ("text", "expected"), [("1,3,5", [1, 3, 5]), ("2, third", [2, None]), ("", [None]), (None, [None])]
)
def test_shots_lists_are_parsed(text: str | None, expected: list) -> None:
    assert parse_shots(text) == expected


@pytest.mark.parametrize(
    ("text", "match"), [("0,1", "positive integers"), ("a", "positive integers"), ("1,1", "twice")]
)
def test_bad_shots_lists_are_refused(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_shots(text)


def test_fewer_shots_keep_every_other_part(tiny_pills: Path) -> None:
    base = base_split(index_folder(tiny_pills), [None])
    one = fewer_shots(base, 1, seed=0)
    assert {d: len(v) for d, v in one.shots_by_defect().items()} == {"crack": 1, "scratch": 1, "spot": 1}
    assert set(one.shots) < set(base.shots)
    for part in PARTS[1:]:
        assert one.part(part) == base.part(part)
    assert fewer_shots(base, 1, seed=0).shots == one.shots


def test_every_setting_shares_validation_and_test(tiny_pills: Path) -> None:
    settings = parse_shots("1,3")
    splits = [entry.split for entry in sweep_splits(base_split(index_folder(tiny_pills), settings), settings)]
    assert [len(s.shots) for s in splits] == [3, 9]
    assert splits[0].test == splits[1].test
    assert splits[0].validation == splits[1].validation


def test_a_saved_first_third_split_asked_for_one_shot_draws_one(tiny_pills: Path) -> None:
    base = base_split(index_folder(tiny_pills), [None])
    [(_, _, one)] = sweep_splits(base, [1])
    assert one.shots == fewer_shots(base, 1, base.seed).shots
    assert sweep_splits(one, [1])[0].split is one


def test_other_draws_take_other_shots_on_the_same_validation_and_test(tiny_pills: Path) -> None:
    base = base_split(index_folder(tiny_pills), [None])
    entries = sweep_splits(base, [1, None], draws=3)
    ones = [e for e in entries if e.setting == 1]
    assert [e.draw for e in ones] == [0, 1, 2]
    assert ones[0].split.shots == fewer_shots(base, 1, base.seed).shots
    assert len({tuple(e.split.shots) for e in ones}) == 3
    assert all(e.split.test == base.test and e.split.validation == base.validation for e in ones)
    assert [(e.setting, e.draw) for e in entries if e.setting is None] == [(None, 0)]
    assert label(1, 2) == "1 shot, draw 2"


def test_draws_that_repeat_an_earlier_draws_shots_run_once(tiny_pills: Path) -> None:
    base = base_split(index_folder(tiny_pills, defects=["crack"]), [None])
    entries = sweep_splits(base, [1], draws=6)
    assert len(entries) == len({tuple(e.split.shots) for e in entries}) == len(base.shots)


def test_zero_draws_are_refused(tiny_pills: Path) -> None:
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        sweep_splits(base_split(index_folder(tiny_pills), [None]), [1], draws=0)


def test_more_shots_than_the_base_split_has_are_refused(tiny_pills: Path) -> None:
    base = base_split(index_folder(tiny_pills), [None])
    with pytest.raises(ValueError, match="fewer for"):
        sweep_splits(base, [3, None])


def test_sweep_report_has_the_shots_plot(tiny_pills: Path, tmp_path: Path) -> None:
    settings = parse_shots("1,third")
    config = BenchmarkConfig(
        arms=("real", "copy-paste"),
        seeds=(0, 1),
        steps=2,
        eval_every=1,
        encoder="tu-resnet10t",
        encoder_depth=3,
        decoder_channels=(16, 8, 8),
        resolution=64,
        batch_size=4,
        progress=False,
        previews=1,
        n_boot=50,
    )
    sweep = run_sweep(base_split(index_folder(tiny_pills), settings), settings, config)
    paths = write_report(sweep, tmp_path)
    assert [e["label"] for e in sweep["settings"]] == ["1 shot", "first third"]
    for name in ("shots", "curves"):
        with Image.open(paths[name]) as im:
            assert im.size[0] > 300
    text = paths["markdown"].read_text()
    assert "measured on the test part only" in text
    assert "## 1 shot: all test images" in text
    assert SWEEP_LEAK_NOTE not in text  # no synthetic source: nothing to warn about
    sweep["settings"][0]["result"]["arms"] = ["real", "synthetic"]
    assert SWEEP_LEAK_NOTE in markdown(sweep)


def test_the_command_runs_and_saves_each_draw(tiny_pills: Path, tmp_path: Path) -> None:
    tiny = ["--seeds", "1", "--steps", "1", "--eval-every", "1", "--resolution", "64"]
    model = ["--encoder", "tu-resnet10t", "--encoder-depth", "3", "--decoder-channels", "16,8,8"]
    argv = [
        "benchmark",
        "--data",
        str(tiny_pills),
        "--arms",
        "real,copy-paste",
        "--shots",
        "1",
        "--shot-draws",
        "2",
    ]
    assert main([*argv, *tiny, *model, "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert [(e["label"], e["draw"]) for e in result["settings"]] == [("1 shot", 0), ("1 shot, draw 1", 1)]
    saved = [load_split(tmp_path / name).shots for name in ("split-1shot.json", "split-1shot-draw1.json")]
    assert saved == [s.split.shots for s in sweep_splits(load_split(tmp_path / "split.json"), [1], draws=2)]
    assert (tmp_path / "shots.png").is_file()
    [pooled] = result["pooled"]
    assert (pooled["setting"], pooled["draws"]) == (1, 2)
    assert pooled["intervals"]["all"]["copy-paste"]["pixel_ap"]["verdict"]
    assert "## 1 shot: pooled over 2 draws of the shots" in (tmp_path / "report.md").read_text()
