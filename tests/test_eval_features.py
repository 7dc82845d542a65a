"""Feature extraction with an injected fake extractor (the real Inception is never loaded here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from eval.features import (
    InceptionFeatures,
    extract_features,
    feature_spec,
    logits_unavailable_reason,
    make_resizer,
)
from tests.eval_fakes import _DummyFeatureExtractor, _NoLogitsExtractor


def _images(n: int, seed: int = 0, size: tuple[int, int] = (40, 52)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("batch_size", [1, 3, 7, 50])
def test_features_do_not_depend_on_batch_size(batch_size):
    images, ex = _images(7), _DummyFeatureExtractor()
    ref, _ = extract_features(images, ex, batch_size=7)
    got, _ = extract_features(images, ex, batch_size=batch_size)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)  # float32 sums differ by batch


def test_resize_is_clean_fid_pil_bicubic_on_float_channels():
    image = _images(1)[0]
    got = make_resizer("clean", 16)(image)
    ref = np.stack(
        [
            np.asarray(
                Image.fromarray(image[:, :, c].astype(np.float32), mode="F").resize((16, 16), Image.BICUBIC)
            ).clip(0, 255)
            for c in range(3)
        ],
        axis=2,
    )
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, ref)


def test_logits_come_with_features_when_the_extractor_has_a_head():
    feats, logits = extract_features(_images(4), _DummyFeatureExtractor(), with_logits=True)
    assert feats.shape == (4, 8)
    assert logits.shape == (4, 5)


def test_no_logits_and_a_reason_without_a_head():
    ex = _NoLogitsExtractor()
    _, logits = extract_features(_images(2), ex, with_logits=True)
    assert logits is None
    assert "no classifier head" in logits_unavailable_reason(ex)


def test_inception_wrapper_normalises_like_clean_fid():
    seen = {}

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen["x"] = x
            return torch.zeros(x.shape[0], 2048, 1, 1)

    net = InceptionFeatures(Spy(), "spy")
    net(torch.full((1, 3, 299, 299), 255.0))
    assert torch.allclose(seen["x"], torch.full_like(seen["x"], 127 / 128))
    with pytest.raises(RuntimeError, match="no classifier head"):
        net.logits(torch.zeros(1, 2048))


def test_feature_spec_records_network_resize_and_resolution():
    spec = feature_spec(_DummyFeatureExtractor())
    assert spec.to_dict() == {
        "network": "dummy-projection",
        "resize_mode": "clean",
        "resolution": 16,
        "dim": 8,
    }


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"images": [np.zeros((8, 8), np.uint8)]}, TypeError, "HWC uint8 RGB"),
        ({"images": []}, ValueError, "no images"),
        ({"images": [np.zeros((8, 8, 3), np.uint8)], "batch_size": 0}, ValueError, "batch_size"),
        ({"images": [np.zeros((8, 8, 3), np.uint8)], "resize_mode": "legacy"}, ValueError, "resize_mode"),
    ],
)
def test_extract_input_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        extract_features(extractor=_DummyFeatureExtractor(), **kwargs)


def test_extractor_without_attributes_is_refused():
    with pytest.raises(TypeError, match="'network' attribute"):
        feature_spec(torch.nn.Identity())


def test_a_bf16_network_is_named_in_the_spec_and_its_cache_key(tmp_path):
    from eval.cache import cache_key

    Image.fromarray(_images(1)[0]).save(tmp_path / "a.png")
    fp32 = feature_spec(_DummyFeatureExtractor())
    bf16 = feature_spec(_DummyFeatureExtractor().to(torch.bfloat16))
    assert bf16.to_dict() == fp32.to_dict() | {"dtype": "bf16"}
    assert cache_key([tmp_path / "a.png"], bf16) != cache_key([tmp_path / "a.png"], fp32)
    feats, _ = extract_features(_images(2), _DummyFeatureExtractor().to(torch.bfloat16))
    assert feats.dtype == np.float64
