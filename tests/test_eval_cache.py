"""The feature cache: hits give identical features, and the key changes with each input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from augment.data.imageio import write_png
from eval.cache import FeatureCache, cache_key, cached_features
from eval.features import feature_spec
from tests.eval_fakes import _DummyFeatureExtractor


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        p = tmp_path / f"img{i}.png"
        write_png(p, rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
        paths.append(p)
    return paths


def test_cache_hit_returns_the_same_features(files, tmp_path):
    cache, ex = FeatureCache(tmp_path / "cache"), _DummyFeatureExtractor()
    first, _ = cached_features(files, ex, cache)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    second, _ = cached_features(files, ex, cache)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    "change", ["file_content", "file_list", "file_order", "network", "resolution", "resize_mode", "logits"]
)
def test_cache_key_changes_with_each_input(files, change):
    spec = feature_spec(_DummyFeatureExtractor())
    base = cache_key(files, spec)
    if change == "file_content":
        write_png(files[0], np.zeros((20, 24, 3), np.uint8))
        key = cache_key(files, spec)
    elif change == "file_list":
        key = cache_key(files[:2], spec)
    elif change == "file_order":
        key = cache_key(files[::-1], spec)
    elif change == "logits":
        key = cache_key(files, spec, with_logits=True)
    else:
        field = {"network": "network", "resolution": "resolution", "resize_mode": "resize_mode"}[change]
        key = cache_key(
            files,
            dataclasses.replace(
                spec, **{field: {"network": "other", "resolution": 32, "resize_mode": "legacy"}[field]}
            ),
        )
    assert key != base


def test_changed_file_is_not_served_from_cache(files, tmp_path):
    cache, ex = FeatureCache(tmp_path / "cache"), _DummyFeatureExtractor()
    before, _ = cached_features(files, ex, cache)
    write_png(files[1], np.full((20, 24, 3), 200, np.uint8))
    after, _ = cached_features(files, ex, cache)
    assert not np.allclose(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0])
