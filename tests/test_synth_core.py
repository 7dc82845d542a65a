"""DefectSynthesizer on a tiny embedded backbone: determinism, round trip, masks, strength, resume, NaN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import augment.synth.fit as training
from augment.data.imageio import read_image
from augment.data.index import index_folder, load_sample_arrays
from augment.data.split import make_split
from augment.errors import TrainingDivergedError
from augment.files import CHECKPOINT
from augment.synth.synthesizer import DefectSynthesizer

TINY = {"resolution": 16, "channels": (8, 16, 16)}
GEN = {"defect": "spot", "steps": 3, "quality_filter": False, "progress": False}


def tiny_synth(seed: int = 0) -> DefectSynthesizer:
    return DefectSynthesizer(**TINY, seed=seed)


@pytest.fixture(scope="module")
def fitted(tiny_pills: Path) -> DefectSynthesizer:
    synth = tiny_synth()
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=2, progress=False)
    return synth


@pytest.fixture(scope="module")
def good_image(tiny_pills: Path) -> np.ndarray:
    split = make_split(index_folder(tiny_pills))
    return load_sample_arrays(split.good_train[0])[0]


def square_mask(shape: tuple[int, int], lo: int = 24, hi: int = 36) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[lo:hi, lo:hi] = 1
    return mask


def weights(synth: DefectSynthesizer) -> dict[str, torch.Tensor]:
    return {
        k: v.clone()
        for m in (synth.backbone.unet, synth.backbone.text_encoder)
        for k, v in m.state_dict().items()
    }


def test_same_seed_same_pair(fitted: DefectSynthesizer) -> None:
    a, b = (fitted.generate(1, generator=7, **GEN)[0] for _ in range(2))
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.mask, b.mask)
    assert a.record == b.record


def test_different_seed_different_pair(fitted: DefectSynthesizer, good_image: np.ndarray) -> None:
    kw = GEN | {"images": [good_image], "masks": [square_mask(good_image.shape[:2])]}
    a, b = fitted.generate(1, generator=1, **kw)[0], fitted.generate(1, generator=2, **kw)[0]
    assert not np.array_equal(a.image, b.image)


def test_save_load_round_trip_same_output(fitted: DefectSynthesizer, tmp_path: Path) -> None:
    fitted.save_pretrained(tmp_path / "model")
    loaded = DefectSynthesizer.from_pretrained(tmp_path / "model")
    assert loaded.fingerprint() == fitted.fingerprint()
    assert loaded.config == fitted.config
    a, b = fitted.generate(1, generator=3, **GEN)[0], loaded.generate(1, generator=3, **GEN)[0]
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.mask, b.mask)


def test_pixels_outside_mask_identical(fitted: DefectSynthesizer, good_image: np.ndarray) -> None:
    mask = square_mask(good_image.shape[:2])
    pair = fitted.generate(1, images=[good_image], masks=[mask], generator=0, **GEN)[0]
    outside = mask == 0
    assert np.array_equal(pair.image[outside], good_image[outside])
    assert not np.array_equal(pair.image[~outside], good_image[~outside])


def test_strength_zero_returns_source(fitted: DefectSynthesizer, good_image: np.ndarray) -> None:
    pair = fitted.generate(
        1, images=[good_image], masks=[square_mask(good_image.shape[:2])], strength=0.0, generator=0, **GEN
    )[0]
    assert np.array_equal(pair.image, good_image)
    assert pair.record["strength"] == 0.0


def test_record_is_complete(fitted: DefectSynthesizer) -> None:
    record = fitted.generate(1, generator=5, **GEN)[0].record
    for key in ("seed", "prompt", "strength", "source_image", "mask_source", "model_fingerprint"):
        assert key in record
    assert record["prompt"] == "a photo of a <pill> with a <spot>"
    assert record["model_fingerprint"] == fitted.fingerprint()


def test_only_new_token_rows_train(tiny_pills: Path) -> None:
    synth = tiny_synth()
    synth.fit(tiny_pills, defects=["spot"], steps=1, batch_size=2, progress=False)
    before = synth.backbone.text_encoder.get_input_embeddings().weight.detach().clone()
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=2, progress=False, lr=1e-2)
    after = synth.backbone.text_encoder.get_input_embeddings().weight.detach()
    new = [synth.backbone.tokenizer.convert_tokens_to_ids(t) for t in ("<pill>", "<spot>")]
    changed = torch.nonzero((after != before).any(dim=1)).flatten().tolist()
    assert sorted(changed) == sorted(new)
    assert after.shape[0] == len(synth.backbone.tokenizer)


def test_resume_equals_uninterrupted(tiny_pills: Path, tmp_path: Path) -> None:
    kw = {"defects": ["spot"], "batch_size": 2, "checkpoint_every": 2, "progress": False}
    full = tiny_synth()
    full.fit(tiny_pills, steps=4, checkpoint_dir=tmp_path / "full", **kw)
    interrupted = tiny_synth()
    interrupted.fit(tiny_pills, steps=2, checkpoint_dir=tmp_path / "cut", **kw)
    resumed = tiny_synth()
    resumed.fit(tiny_pills, steps=4, checkpoint_dir=tmp_path / "cut", resume=True, **kw)
    a, b = weights(full), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_and_keeps_last_checkpoint(
    tiny_pills: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = training.diffusion_loss, []

    def failing(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) > 2 else loss

    monkeypatch.setattr(training, "diffusion_loss", failing)
    with pytest.raises(
        TrainingDivergedError, match=r"loss became nan at step 2; the last good checkpoint .* step 2"
    ):
        tiny_synth().fit(
            tiny_pills,
            defects=["spot"],
            steps=5,
            batch_size=2,
            checkpoint_dir=tmp_path,
            checkpoint_every=1,
            progress=False,
        )
    assert torch.load(tmp_path / CHECKPOINT, weights_only=False)["step"] == 2


@pytest.mark.parametrize("rotation", [0.0, 15.0, 180.0])
def test_record_reproduces_pair(fitted: DefectSynthesizer, rotation: float) -> None:
    pair = fitted.generate(1, generator=11, mask_rotation=rotation, **GEN)[0]
    assert pair.record["mask_rotation"] == rotation
    again = fitted.reproduce(pair.record, read_image(pair.record["source_image"]))
    assert np.array_equal(again.image, pair.image)
    assert np.array_equal(again.mask, pair.mask)


def test_record_without_mask_rotation_reproduces_with_full_rotation(fitted: DefectSynthesizer) -> None:
    pair = fitted.generate(1, generator=11, mask_rotation=180, **GEN)[0]
    old = {k: v for k, v in pair.record.items() if k != "mask_rotation"}
    again = fitted.reproduce(old, read_image(pair.record["source_image"]))
    assert np.array_equal(again.mask, pair.mask)


def test_generate_rejects_a_bad_mask_rotation(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match="max_rotation must be degrees in"):
        fitted.generate(1, mask_rotation=270, **GEN)


@pytest.mark.parametrize("source", ["real", "procedural:blob", "procedural:scratch"])
def test_mask_sources_paint_on_the_pill(fitted: DefectSynthesizer, source: str) -> None:
    pair = fitted.generate(1, generator=4, mask_source=source, **GEN)[0]
    assert pair.record["mask_source"] == source
    assert pair.record["input_mask_area"] > 0


def test_unknown_mask_source(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match="mask_source must be 'real' or one of"):
        fitted.generate(1, mask_source="stripes", **GEN)
