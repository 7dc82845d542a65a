"""End to end on tiny pills: the benchmark runs every arm and writes reports that parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from augment.cli import main
from augment.data.index import index_folder, load_sample_arrays
from augment.data.pairs import write_pair
from augment.data.split import make_split
from downstream.arms import copy_paste_pairs
from downstream.protocol import BenchmarkConfig, run_benchmark, to_items
from downstream.report import METRICS, checkpoint_notes, chosen_steps, markdown, summarise, write_report
from tests.tiny_detector import TINY_DETECTOR

TINY = TINY_DETECTOR | {"previews": 2}


@pytest.fixture(scope="module")
def report(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, Path]]:
    split = make_split(index_folder(tiny_pills))
    bank = tmp_path_factory.mktemp("bank")
    shots = [(*load_sample_arrays(s), s.defect) for s in split.shots]
    goods = [load_sample_arrays(s)[0] for s in split.good_train]
    for k, pair in enumerate(copy_paste_pairs(shots, goods, {d: 4 for d in split.shots_by_defect()}, seed=9)):
        write_pair(bank, pair, f"s{k}", "pill", pair.record["defect"])
    config = BenchmarkConfig(arms=("real", "synthetic", "copy-paste"), seeds=(0, 1), steps=2, **TINY)
    result = run_benchmark(split, config, synthetic=bank)
    return result, write_report(result, tmp_path_factory.mktemp("report"))


def test_every_arm_and_seed_is_run(report) -> None:
    result, _ = report
    assert sorted((r["arm"], r["seed"]) for r in result["runs"]) == sorted(
        (a, s) for a in ("real", "synthetic", "copy-paste") for s in (0, 1)
    )


def test_json_parses_and_records_provenance(report) -> None:
    _, paths = report
    data = json.loads(paths["json"].read_text())["settings"][0]["result"]
    assert data["synthetic_source"]["kind"] == "bank"
    assert data["scored_on"] == "test"
    assert {"diffusers", "peft", "transformers", "accelerate"} <= set(data["versions"])
    assert data["machine"]["device"] == "cpu"
    assert data["split"]["shots"] > 0
    assert data["config"]["steps"] == 2
    assert "torch" in data["versions"]
    assert set(data["summary"]["all"]["synthetic"]["pixel_ap"]) >= {"mean", "std", "delta_mean"}


def test_markdown_has_a_row_per_arm(report) -> None:
    _, paths = report
    text = paths["markdown"].read_text()
    for arm in ("real", "synthetic", "copy-paste"):
        assert f"| {arm} |" in text


def test_report_pairs_the_model_arm_with_copy_paste(report) -> None:
    _, paths = report
    data = json.loads(paths["json"].read_text())["settings"][0]["result"]
    assert data["rivals"] == {"synthetic": "copy-paste"}
    assert data["rival_intervals"]["all"]["synthetic"]["pixel_ap"]["verdict"]
    assert "| synthetic | `copy-paste` |" in paths["markdown"].read_text()


def test_the_bank_held_for_each_seed_is_recorded(report) -> None:
    result, _ = report
    per_seed = result["extra_per_defect"]["synthetic"]
    assert result["synthetic_coverage"] == {
        d: {"in_bank": 4, "per_seed": n, "seeds": 2, "needed": 2 * n, "shared": 2 * n > 4}
        for d, n in per_seed.items()
    }


@pytest.mark.parametrize("held", [1, 1000])
def test_report_says_when_the_seeds_share_the_banks_pairs(report, held: int) -> None:
    result, _ = report
    cover = {
        d: c | {"in_bank": held, "shared": held < c["needed"]}
        for d, c in result["synthetic_coverage"].items()
    }
    text = markdown(result | {"synthetic_coverage": cover})
    assert ("overlapping pairs" in text) == (held == 1)


@pytest.mark.parametrize("name", ["bars", "predictions", "curves"])
def test_pngs_are_images(report, name: str) -> None:
    _, paths = report
    with Image.open(paths[name]) as im:
        assert im.size[0] > 100


def test_deltas_are_paired_by_seed() -> None:
    runs = [
        {"arm": arm, "seed": s, "metrics": {"all": dict.fromkeys(METRICS, base + s)}}
        for arm, base in (("real", 0.1), ("copy-paste", 0.3))
        for s in (0, 1, 2)
    ]
    entry = summarise(runs)["all"]["copy-paste"]["pixel_ap"]
    assert entry["delta_mean"] == pytest.approx(0.2)
    assert entry["delta_std"] == pytest.approx(0.0)
    assert entry["std"] == pytest.approx(1.0)


def test_cli_writes_the_report(tiny_pills: Path, tmp_path: Path) -> None:
    code = main(
        [
            "benchmark",
            "--data",
            str(tiny_pills),
            "--arms",
            "real",
            "--seeds",
            "1",
            "--steps",
            "1",
            "--resolution",
            "64",
            "--encoder",
            "tu-resnet10t",
            "--encoder-depth",
            "3",
            "--decoder-channels",
            "16,8,8",
            "--real-defect-share",
            "0.6",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    result = json.loads((tmp_path / "results.json").read_text())["settings"][0]["result"]
    assert result["arms"] == ["real"]
    assert result["config"]["real_defect_share"] == 0.6
    assert (tmp_path / "split.json").is_file()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seeds": (1, 1)}, "seeds must be distinct"),
        ({"crop": 40}, "multiple of 32"),
        ({"synthetic_ratio": 0}, "synthetic_ratio"),
        ({"decoder_channels": (8, 8)}, "one width per encoder stage"),
        ({"real_defect_share": 1.5}, "real_defect_share must lie in"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BenchmarkConfig(**kwargs)  # type: ignore[arg-type]


def test_real_defect_share_reaches_the_trainer_and_the_results() -> None:
    config = BenchmarkConfig(real_defect_share=0.7)
    assert config.train_config(0).real_defect_share == 0.7
    assert config.to_dict()["real_defect_share"] == 0.7


def test_arm_pairs_are_marked_extra(tiny_pills: Path) -> None:
    split = make_split(index_folder(tiny_pills))
    image, mask = load_sample_arrays(split.shots[0])
    pairs = copy_paste_pairs([(image, mask, split.shots[0].defect)], [image], {split.shots[0].defect: 1}, 0)
    assert all(item.extra for item in to_items(pairs, (32, 32), "copy-paste"))


def test_split_without_test_defects_is_refused(tiny_pills: Path) -> None:
    split = make_split(index_folder(tiny_pills))
    split.test_defects = []
    with pytest.raises(ValueError, match="test defects"):
        run_benchmark(split, BenchmarkConfig(seeds=(0,), steps=1, **TINY))


def test_demo_step_uses_the_bank_of_an_earlier_step(
    tiny_pills: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from augment.cli import demo_steps

    split = make_split(index_folder(tiny_pills))
    shots = [(*load_sample_arrays(s), s.defect) for s in split.shots]
    goods = [load_sample_arrays(s)[0] for s in split.good_train]
    for k, pair in enumerate(copy_paste_pairs(shots, goods, {d: 1 for d in split.shots_by_defect()}, seed=2)):
        write_pair(tmp_path / "bank", pair, f"s{k}", "pill", pair.record["defect"])
    monkeypatch.setattr(demo_steps, "BENCH_QUICK", {"steps": 1, "resolution": 64})
    state = SimpleNamespace(split=split, quick=True, out=tmp_path, summary={"bank": str(tmp_path / "bank")})
    demo_steps.step_benchmark(state)
    assert state.summary["benchmark"]["arms"] == ["real", "synthetic", "copy-paste"]
    assert Path(state.summary["benchmark"]["report"]).is_file()


def _chosen(real_steps: tuple[int, ...], arm: str = "real") -> list[dict]:
    return [{"arm": arm, "seed": s, "best_step": step} for s, step in reversed(list(enumerate(real_steps)))]


def test_chosen_steps_are_in_seed_order() -> None:
    assert chosen_steps(_chosen((500, 700, 600))) == {"real": [500, 700, 600]}


@pytest.mark.parametrize(("real_steps", "warned"), [((700, 700, 500), True), ((700, 600, 500), False)])
def test_real_still_learning_at_the_budget_is_flagged(real_steps: tuple[int, ...], warned: bool) -> None:
    text = "\n".join(checkpoint_notes(_chosen(real_steps), steps=700))
    assert ("budget is short" in text) is warned
    assert f"| real | {', '.join(map(str, real_steps))} |" in text


@pytest.mark.parametrize(("other_steps", "warned"), [((700, 700, 500), True), ((700, 600, 500), False)])
def test_another_arm_still_learning_is_named(other_steps: tuple[int, ...], warned: bool) -> None:
    runs = _chosen((500, 600, 500)) + _chosen(other_steps, arm="copy-paste")
    text = "\n".join(checkpoint_notes(runs, steps=700))
    assert ("Most runs of `copy-paste` chose the last step" in text) is warned
    assert "budget is short" not in text


def test_report_lists_the_chosen_checkpoints(report) -> None:
    _, paths = report
    assert "| arm | chosen steps | at the last step |" in paths["markdown"].read_text()
