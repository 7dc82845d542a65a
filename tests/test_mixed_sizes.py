"""Images of many sizes in one dataset, with a defect larger than every defect-free image: every
place that cuts, places or pastes a window or a defect scales it to fit (the documented rule)."""

from __future__ import annotations

import numpy as np
import pytest

from augment.data.index import index_folder, load_sample_arrays
from augment.data.split import FewShotSplit, make_split
from augment.loaders.copy_paste import CopyPasteSource
from augment.masks.bank import RealMaskBank
from augment.masks.paste import paste_defect
from augment.synth.batches import TrainData, sample_batch
from augment.synth.options import FitConfig
from augment.synth.synthesizer import DefectSynthesizer
from downstream.protocol import BenchmarkConfig, run_benchmark
from eval.shape import native_crops
from tests.mixed_data import CRACKS, GOOD_SIZES, mixed_dataset, texture

BIG = CRACKS[0]  # the shot: a 50 x 70 px defect in a 64 x 100 image


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> FewShotSplit:
    return make_split(index_folder(mixed_dataset(tmp_path_factory.mktemp("mixed"))))


def _big_shot(split: FewShotSplit) -> tuple[np.ndarray, np.ndarray]:
    shot = split.shots[0]
    assert shot.image.name == "c0.png"
    return load_sample_arrays(shot)


def test_the_shot_is_larger_than_every_defect_free_image(split: FewShotSplit) -> None:
    _, mask = _big_shot(split)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert all(rows.size > h and cols.size > w for h, w in GOOD_SIZES)


def test_training_windows_fit_small_defect_free_images(split: FewShotSplit) -> None:
    image, mask = _big_shot(split)
    goods = [texture(h, w, np.random.default_rng(k)) for k, (h, w) in enumerate(GOOD_SIZES)]
    data = TrainData("tile", [(image, mask, "crack")], goods)
    cfg = FitConfig(batch_size=8, resolution=16, good_fraction=1.0)
    batch = sample_batch(data, cfg, np.random.default_rng(0))  # 'high <= 0' before the fix
    assert tuple(batch.pixels.shape) == (8, 3, 16, 16)
    assert all(d is None for d in batch.defects)


def test_evaluation_crops_of_a_small_image_are_mirrored(split: FewShotSplit) -> None:
    image, mask = _big_shot(split)
    crops = native_crops([image], [mask], side=128)
    assert [c.shape for c in crops] == [(128, 128, 3)]


@pytest.mark.parametrize("size", GOOD_SIZES[:2])
def test_real_mask_bank_places_a_large_mask_on_a_small_image(
    split: FewShotSplit, size: tuple[int, int]
) -> None:
    _, mask = _big_shot(split)
    placed = RealMaskBank([mask]).sample(size, None, np.random.default_rng(0))
    assert placed.shape == size
    assert placed.any()


@pytest.mark.parametrize("size", GOOD_SIZES[:2])
def test_copy_paste_scales_a_large_defect_to_the_target(split: FewShotSplit, size: tuple[int, int]) -> None:
    image, mask = _big_shot(split)
    target = texture(*size, np.random.default_rng(1))
    pasted = paste_defect(target, image, mask, np.random.default_rng(0))
    assert pasted is not None
    assert pasted[0].shape == target.shape
    assert pasted[1].shape == size
    assert pasted[1].any()


def test_copy_paste_source_fills_every_pair(split: FewShotSplit) -> None:
    source = CopyPasteSource.from_split(split)
    goods = [load_sample_arrays(s)[0] for s in split.good_train]
    pairs = source.draw({"crack": 4}, goods, seed=0)
    assert len(pairs) == 4
    assert all(p.mask.shape == p.image.shape[:2] and p.mask.any() for p in pairs)
    one = source.make(goods[0], "crack", 1.0, seed=0)
    assert one is not None
    assert one.image.shape == goods[0].shape


def test_fit_and_generate_on_mixed_sizes(split: FewShotSplit) -> None:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(split, steps=3, batch_size=4, progress=False)
    pairs = synth.generate(3, steps=2, quality_filter=False, generator=0, progress=False)
    assert all(p.mask.shape == p.image.shape[:2] for p in pairs)
    assert {p.image.shape[:2] for p in pairs} <= set(GOOD_SIZES)


def test_benchmark_on_mixed_sizes(split: FewShotSplit) -> None:
    config = BenchmarkConfig(
        arms=("real", "copy-paste"),
        seeds=(0,),
        steps=2,
        resolution=64,
        crop=32,
        batch_size=2,
        encoder_depth=3,
        decoder_channels=(16, 8, 8),
        previews=1,
        progress=False,
    )
    result = run_benchmark(split, config)
    assert [r["n_extra"] for r in result["runs"]] == [0, 2]
