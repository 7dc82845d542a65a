"""Bank source: seeded pastes independent of what its per-process caches hold."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from augment import sources
from augment.data.demo_data import render_pill
from augment.data.index import index_folder, load_sample_arrays
from augment.masks.foreground import loader_foreground
from augment.paste_bank import build_paste_bank
from augment.sources import BankSource


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
    monkeypatch.setattr(sources, "VARIANT_CACHE_BYTES", 1)  # nothing prepared ahead, one kept
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
    monkeypatch.setattr(sources, "VARIANT_CACHE_BYTES", budget)
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


def test_a_defect_that_fits_nowhere_is_reported_once(bank: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = BankSource(bank)
    tiny = np.full((6, 6, 3), 128, np.uint8)  # smaller than every stored patch
    with caplog.at_level(logging.WARNING, logger="augment.sources"):
        assert source.make(tiny, source.defects[0], 1.0, 0) is None
        assert source.make(tiny, source.defects[0], 1.0, 1) is None
    warnings = [r for r in caplog.records if "fits on the object" in r.getMessage()]
    assert len(warnings) == 1
