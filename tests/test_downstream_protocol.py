"""The protocol: choices on validation only, arms without real defects, same bytes in any number of processes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.data.index import index_folder, load_sample_arrays
from augment.data.pairs import write_pair
from augment.data.split import make_split
from augment.errors import DataError
from downstream.arms import copy_paste_pairs
from downstream.config import BenchmarkConfig
from downstream.data import target_size
from downstream.jobs import ArmData, Job, extra_counts, training_items
from downstream.protocol import distinct_ratios, load_items, run_benchmark
from downstream.selection import choose_ratio
from tests.tiny_detector import TINY_DETECTOR

TINY = TINY_DETECTOR | {"previews": 1, "n_boot": 50}
CHOICES = ("best_step", "best_val_ap", "threshold", "ratio", "curve")


def _choices(result: dict) -> list[tuple]:
    return [tuple(str(r[k]) for k in ("arm", "seed", *CHOICES)) for r in result["runs"]]


def _relabel_test_masks(root: Path) -> None:
    """Replace every test defect mask of the split by a different (shifted, grown) one."""
    split = make_split(index_folder(root))
    for s in split.test_defects:
        mask = np.array(Image.open(s.mask))
        changed = np.roll(mask, mask.shape[0] // 3, axis=0) | np.roll(mask, mask.shape[1] // 4, axis=1)
        Image.fromarray(changed).save(s.mask)


def test_changing_only_test_labels_changes_no_choice(tiny_pills: Path, tmp_path: Path) -> None:
    other = shutil.copytree(tiny_pills, tmp_path / "pill")
    _relabel_test_masks(other)
    config = BenchmarkConfig(
        arms=("real", "copy-paste"),
        seeds=(0,),
        steps=4,
        eval_every=2,
        synthetic_ratio="auto",
        ratio_grid=(1, 2),
        **TINY,
    )
    a = run_benchmark(make_split(index_folder(tiny_pills)), config)
    b = run_benchmark(make_split(index_folder(other)), config)
    assert _choices(a) == _choices(b)
    assert a["ratio_search"] == b["ratio_search"]
    assert [r["metrics"]["all"]["pixel_ap"] for r in a["runs"]] != [
        r["metrics"]["all"]["pixel_ap"] for r in b["runs"]
    ]


@pytest.mark.parametrize(
    ("shots", "trained"),
    [
        ({"crack": 1}, [0.5, 2.0, 4.0]),
        ({"crack": 3}, [0.5, 1.0, 2.0, 4.0]),
        ({"crack": 1, "spot": 3}, [0.5, 1.0, 2.0, 4.0]),
    ],
)
def test_ratios_adding_the_same_pairs_are_trained_once(shots: dict[str, int], trained: list[float]) -> None:
    assert distinct_ratios([4.0, 2.0, 1.0, 0.5], lambda r: extra_counts(shots, r)) == sorted(
        trained, reverse=True
    )


def test_the_tested_checkpoint_is_the_best_on_validation(tiny_pills: Path) -> None:
    config = BenchmarkConfig(arms=("real",), seeds=(0, 1), steps=6, eval_every=2, **TINY)
    for run in run_benchmark(make_split(index_folder(tiny_pills)), config)["runs"]:
        steps, aps = zip(*run["curve"], strict=True)
        assert steps == (2, 4, 6)
        assert run["best_step"] == steps[int(np.argmax(aps))]


@pytest.fixture(scope="module")
def arm_data(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> ArmData:
    split = make_split(index_folder(tiny_pills))
    bank = tmp_path_factory.mktemp("bank")
    shots = [(*load_sample_arrays(s), s.defect) for s in split.shots]
    goods = [load_sample_arrays(s)[0] for s in split.good_train]
    for k, pair in enumerate(copy_paste_pairs(shots, goods, {d: 2 for d in split.shots_by_defect()}, seed=9)):
        write_pair(bank, pair, f"s{k}", "pill", pair.record["defect"])
    size = target_size(goods[0].shape, 64)
    return ArmData(load_items(split.shots, size, "real"), load_items(split.good_train, size, "real"), bank)


@pytest.mark.parametrize("arm", ["synthetic-only", "copy-paste-only", "perlin-only"])
def test_only_arms_train_on_no_real_defect_image(arm_data: ArmData, arm: str) -> None:
    items = training_items(arm_data, Job(arm, 0, 1.0))
    assert not [it for it in items if not it.extra and it.mask.any()]
    assert [it for it in items if it.extra and it.mask.any()]
    assert all(it.source == arm for it in items if it.extra)


@pytest.mark.parametrize("arm", ["synthetic", "copy-paste"])
def test_other_arms_keep_the_real_shots(arm_data: ArmData, arm: str) -> None:
    items = training_items(arm_data, Job(arm, 0, 1.0))
    assert sum(1 for it in items if not it.extra and it.mask.any()) == len(arm_data.shots)


def test_results_do_not_depend_on_the_number_of_processes(tiny_pills: Path) -> None:
    split = make_split(index_folder(tiny_pills))
    runs = {}
    for workers in (1, 2):
        config = BenchmarkConfig(
            arms=("real", "copy-paste"), seeds=(0,), steps=2, eval_every=1, workers=workers, **TINY
        )
        runs[workers] = run_benchmark(split, config)["runs"]
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in runs[1]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in runs[2]]


def test_split_without_validation_is_refused(tiny_pills: Path) -> None:
    split = make_split(index_folder(tiny_pills))
    split.val_defects, split.good_val = [], []
    with pytest.raises(DataError, match="no validation defect images"):
        run_benchmark(split, BenchmarkConfig(seeds=(0,), steps=1, **TINY))


def test_ratio_is_chosen_by_mean_validation_ap() -> None:
    assert choose_ratio({0.5: [0.2, 0.4], 1.0: [0.5, 0.3], 2.0: [0.1, 0.2]}) == 1.0
    assert choose_ratio({0.5: [0.2, 0.4], 1.0: [0.4, 0.2]}) == 0.5  # a tie: the smaller
    assert choose_ratio({1.0: [0.3], 2.0: [0.4, float("nan")]}) == 2.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eval_every": 0}, "eval_every"),
        ({"synthetic_ratio": "sometimes"}, "synthetic_ratio"),
        ({"workers": 0}, "workers must be"),
        ({"dtype": "fp16"}, "fp16"),
        ({"device": "gpu"}, "device must be"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BenchmarkConfig(**kwargs)  # type: ignore[arg-type]
