"""The perlin arm: DRAEM-style anomalies, seeded, on the foreground, with exact non-empty masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from augment.data.index import index_folder, load_sample_arrays
from augment.data.split import make_split
from augment.masks.foreground import estimate_foreground
from augment.masks.perlin import perlin_anomaly, perlin_mask, perlin_noise
from downstream.arms import ARMS, check_arms, perlin_pairs

SHAPES = [(4, 4), (7, 5), (16, 16), (24, 61), (61, 24), (50, 120)]


def _texture(shape: tuple[int, int], rgb: bool, seed: int) -> np.ndarray:
    """A smooth random texture (no separable object: the whole image is foreground)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (*shape, 3) if rgb else shape).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 1.0) * 1.5 - 60, 0, 255).astype(np.uint8)


def _object(shape: tuple[int, int], rgb: bool, seed: int) -> np.ndarray:
    """A bright textured disc on a dark, lightly noisy background."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2
    gray = np.where(disc, 170 + rng.integers(-40, 40, shape), 20 + rng.integers(0, 6, shape))
    image = gray.astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=2) if rgb else image


def _as_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def _changed(pair_image: np.ndarray, good: np.ndarray) -> np.ndarray:
    return (pair_image != _as_rgb(good)).any(axis=2)


def _goods(shape: tuple[int, int], rgb: bool, n: int = 3) -> list[np.ndarray]:
    return [_texture(shape, rgb, seed) for seed in range(n)]


@pytest.mark.parametrize("rgb", [False, True])
def test_same_seed_same_bytes(rgb: bool) -> None:
    goods = _goods((32, 48), rgb)
    a, b = (perlin_pairs(goods, {"crack": 2, "spot": 2}, seed=7) for _ in range(2))
    for x, y in zip(a, b, strict=True):
        assert x.image.tobytes() == y.image.tobytes()
        assert x.mask.tobytes() == y.mask.tobytes()
        assert x.record == y.record


def test_other_seed_other_pairs() -> None:
    goods = _goods((32, 48), rgb=True)
    a, b = (perlin_pairs(goods, {"crack": 3}, seed=s) for s in (1, 2))
    assert any(not np.array_equal(x.mask, y.mask) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("rgb", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_mask_is_exactly_the_changed_pixels(shape: tuple[int, int], rgb: bool) -> None:
    goods = _goods(shape, rgb)
    for pair in perlin_pairs(goods, {"crack": 4}, seed=3):
        assert pair.mask.dtype == np.uint8
        assert set(np.unique(pair.mask)) <= {0, 1}
        np.testing.assert_array_equal(
            pair.mask.astype(bool), _changed(pair.image, goods[pair.record["good_index"]])
        )


@pytest.mark.parametrize("rgb", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_masks_are_never_empty(shape: tuple[int, int], rgb: bool) -> None:
    pairs = perlin_pairs(_goods(shape, rgb), {"crack": 5}, seed=0)
    assert len(pairs) == 5
    assert all(p.mask.any() for p in pairs)


@pytest.mark.parametrize("rgb", [False, True])
@pytest.mark.parametrize("shape", [(48, 48), (40, 72)])
def test_masks_lie_on_the_foreground(shape: tuple[int, int], rgb: bool) -> None:
    goods = [_object(shape, rgb, seed) for seed in range(3)]
    for pair in perlin_pairs(goods, {"crack": 6}, seed=1):
        foreground = estimate_foreground(goods[pair.record["good_index"]])
        assert not foreground.all()  # a real object, so the check below can fail
        assert not (pair.mask.astype(bool) & ~foreground).any()


def test_masks_lie_on_the_pills(tiny_pills: Path) -> None:
    goods = [load_sample_arrays(s)[0] for s in make_split(index_folder(tiny_pills)).good_train]
    for pair in perlin_pairs(goods, {"crack": 4, "spot": 4}, seed=2):
        foreground = estimate_foreground(goods[pair.record["good_index"]])
        assert pair.mask.any()
        assert not (pair.mask.astype(bool) & ~foreground).any()


def test_mixed_size_and_channel_goods() -> None:
    goods = [_texture((20, 30), True, 0), _texture((45, 17), False, 1), _texture((64, 64), True, 2)]
    for pair in perlin_pairs(goods, {"crack": 9}, seed=4):
        good = goods[pair.record["good_index"]]
        assert pair.image.shape == (*good.shape[:2], 3)
        assert pair.record["texture_index"] != pair.record["good_index"]
        np.testing.assert_array_equal(pair.mask.astype(bool), _changed(pair.image, good))


def test_one_good_is_its_own_texture() -> None:
    (pair,) = perlin_pairs([_texture((24, 24), True, 0)], {"crack": 1}, seed=0)
    assert pair.record["good_index"] == pair.record["texture_index"] == 0
    assert pair.mask.any()


def test_records_say_how_each_pair_was_made() -> None:
    pairs = perlin_pairs(_goods((24, 24), True), {"crack": 1, "spot": 2}, seed=5)
    assert [p.record["defect"] for p in pairs] == ["crack", "spot", "spot"]
    for p in pairs:
        assert p.record["arm"] == "perlin"
        assert p.record["seed"] == 5
        assert 0.1 <= p.record["opacity"] < 1.0
        assert {"good_index", "texture_index", "perlin_scale", "perlin_angle", "jitter"} <= set(p.record)


def test_fill_is_texture_not_a_flat_blob() -> None:
    image, source = np.full((48, 48), 128, np.uint8), _texture((48, 48), False, 1)
    out, mask, _ = perlin_anomaly(image, source, np.random.default_rng(0), opacity_range=(1.0, 1.0), jitter=0)
    assert out[mask.astype(bool)].std() > 5


@pytest.mark.parametrize("shape", [(5, 9), (33, 17), (64, 100)])
@pytest.mark.parametrize("scale", [(1, 1), (3, 7), (32, 8)])
def test_noise_takes_any_shape_and_scale(shape: tuple[int, int], scale: tuple[int, int]) -> None:
    noise = perlin_noise(shape, scale, np.random.default_rng(0))
    assert noise.shape == shape
    assert np.abs(noise).max() <= 1.5


@pytest.mark.parametrize("rotate", [False, True])
def test_perlin_mask_stays_on_the_given_foreground(rotate: bool) -> None:
    foreground = np.zeros((40, 60), bool)
    foreground[10:30, 15:45] = True
    for seed in range(10):
        mask, info = perlin_mask((40, 60), np.random.default_rng(seed), foreground, rotate=rotate)
        assert not (mask & ~foreground).any()
        assert (info["perlin_angle"] == 0) != rotate


def test_nothing_to_change_is_a_clear_error() -> None:
    flat = np.full((16, 16), 90, np.uint8)
    with pytest.raises(ValueError, match="no Perlin anomaly changed any pixel"):
        perlin_anomaly(flat, flat, np.random.default_rng(0), jitter=0, max_tries=5)


@pytest.mark.parametrize(
    ("goods", "counts", "match"),
    [
        ([], {"crack": 1}, "at least one defect-free image"),
        ([np.zeros((16, 16), np.float32)], {"crack": 1}, "gray .* or RGB .* uint8"),
        ([np.zeros((16, 16, 4), np.uint8)], {"crack": 1}, "gray .* or RGB .* uint8"),
        ([np.zeros((3, 16), np.uint8)], {"crack": 1}, "at least 4x4"),
        ([np.zeros((16, 16), np.uint8)], {"crack": -1}, "integers >= 0"),
    ],
)
def test_bad_input_is_refused(goods: list[np.ndarray], counts: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        perlin_pairs(goods, counts, seed=0)


def test_perlin_is_an_arm() -> None:
    assert "perlin" in ARMS
    assert check_arms(["real", "perlin"], synthetic=None) == ["real", "perlin"]
