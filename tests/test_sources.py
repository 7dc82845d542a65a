"""The source layer: bank pastes independent of the caches, a dataset as a copy-paste source,
counted paste failures, and a synthesizer source that returns None instead of raising."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from augment.data.demo_data import render_pill
from augment.data.index import index_folder, load_sample_arrays
from augment.loaders import copy_paste
from augment.loaders.paste_bank import build_paste_bank
from augment.loaders.sources import BankSource, open_source
from augment.masks import paste
from augment.masks.foreground import loader_foreground
from augment.synth.synthesizer import DefectSynthesizer


@pytest.fixture(scope="module")
def bank(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_paste_bank(tiny_pills, tmp_path_factory.mktemp("bank"), per_shot=2)


@pytest.fixture(scope="module")
def good(tiny_pills: Path) -> np.ndarray:
    sample = next(s for s in index_folder(tiny_pills).samples if s.is_good)
    return load_sample_arrays(sample)[0]


def _pastes(source: BankSource, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = [source.make(image, source.defects[seed % len(source.defects)], 0.8, seed) for seed in range(12)]
    return [(p.image, p.mask) for p in pairs if p is not None]


def test_pastes_do_not_depend_on_the_variant_cache(
    bank: Path, good: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = _pastes(BankSource(bank), good)
    monkeypatch.setattr(copy_paste, "VARIANT_CACHE_BYTES", 1)  # nothing prepared ahead, one kept
    starved = BankSource(bank)
    assert len(starved._variants) == 0
    assert len(full) == 12
    for (image, mask), (image2, mask2) in zip(full, _pastes(starved, good), strict=True):
        assert np.array_equal(image, image2)
        assert np.array_equal(mask, mask2)


def test_variant_cache_stays_within_its_budget(
    bank: Path, good: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = 20_000
    monkeypatch.setattr(copy_paste, "VARIANT_CACHE_BYTES", budget)
    source = BankSource(bank)
    largest = 0
    for seed in range(40):
        source.make(good, source.defects[0], 1.0, seed)
        largest = max(largest, max(w.nbytes for w in source._variants.values() if w is not None))
        assert source._variant_bytes == sum(w.nbytes for w in source._variants.values() if w is not None)
        assert source._variant_bytes <= max(budget, largest)


def test_cached_foreground_equals_a_fresh_estimate() -> None:
    image, _ = render_pill(2, 192, None)  # larger than the 64 px estimate: cached
    cache: dict[bytes, np.ndarray] = {}
    first = loader_foreground(image, cache)
    again = loader_foreground(image.copy(), cache)
    assert len(cache) == 1
    assert again is first
    assert np.array_equal(first, loader_foreground(image))
    assert not first.all()


def test_a_defect_that_fits_nowhere_is_reported_once(
    bank: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = BankSource(bank)
    tiny = np.full((6, 6, 3), 128, np.uint8)
    # a patch larger than the image is scaled to fit it (tests/test_mixed_sizes.py); here no place
    # on the object takes the defect (a thin or small object)
    monkeypatch.setattr(paste, "place_patch", lambda *args, **kwargs: None)
    with caplog.at_level(logging.WARNING, logger="augment.loaders.copy_paste"):
        assert source.make(tiny, source.defects[0], 1.0, 0) is None
        assert source.make(tiny, source.defects[0], 1.0, 1) is None
    warnings = [r for r in caplog.records if "fits on the object" in r.getMessage()]
    assert len(warnings) == 1


def test_a_dataset_folder_opens_as_a_copy_paste_source(tiny_pills: Path, good: np.ndarray) -> None:
    source = open_source(tiny_pills)
    assert source.kind == "copy-paste"
    assert source.fingerprint == index_folder(tiny_pills).fingerprint()
    pair = source.make(good, source.defects[0], 1.0, seed=3)
    assert pair is not None
    assert pair.mask.any()
    assert pair.record["donor"].endswith(".png")


def test_pastes_that_fit_nowhere_are_counted_and_logged(
    tiny_pills: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(copy_paste.CopyPasteSource, "paste", lambda *args, **kwargs: None)
    with caplog.at_level(logging.WARNING, logger="augment.loaders.paste_bank"):
        build_paste_bank(tiny_pills, tmp_path / "bank")
    assert any("6 of 6 pastes fitted nowhere" in r.getMessage() for r in caplog.records)


def test_a_synthesizer_source_returns_none_when_the_filter_gives_up(
    tiny_pills: Path, tmp_path: Path, good: np.ndarray
) -> None:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(tiny_pills, defects=["spot"], steps=1, batch_size=2, progress=False)
    source = open_source(synth.save_pretrained(tmp_path / "model"))
    assert source.kind == "synthesizer"
    assert source.fingerprint == synth.fingerprint()
    assert source.make(good, "spot", 0.01, seed=0) is None  # strength 0.01 changes nothing: all rejected


def test_a_poisson_paste_bank_records_its_blend_and_differs(tiny_pills: Path, tmp_path: Path) -> None:
    feather = open_source(build_paste_bank(tiny_pills, tmp_path / "feather"))
    seamless = open_source(build_paste_bank(tiny_pills, tmp_path / "seamless", blend="seamless"))
    assert isinstance(feather, BankSource)
    assert isinstance(seamless, BankSource)
    first = [feather.stored(0), seamless.stored(0)]
    assert [p.record["paste_blend"] for p in first] == ["feather", "seamless"]
    assert np.array_equal(first[0].mask, first[1].mask)  # same draws: same place and shape
    assert not np.array_equal(first[0].image, first[1].image)
