"""The synthesizer's shape: configuration = constructor, fitted state apart, focused entry points,
inputs checked before any file is read, the fingerprint computed once, accumulation through accelerate."""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

import augment.models.fingerprint as fingerprint_module
import augment.synth.batches as batches
from augment.files import CONFIG, FITTED
from augment.synth.config import FittedState, SynthConfig
from augment.synth.synthesizer import DefectSynthesizer

TINY = {"resolution": 16, "channels": (8, 16, 16)}
FIT = {"defects": ["spot"], "steps": 2, "batch_size": 2, "progress": False}
GEN = {"defect": "spot", "steps": 2, "quality_filter": False, "progress": False}


@pytest.fixture(scope="module")
def fitted(tiny_pills: Path) -> DefectSynthesizer:
    synth = DefectSynthesizer(**TINY)
    synth.fit(tiny_pills, **FIT)
    return synth


def test_constructor_arguments_are_the_two_dataclasses() -> None:
    params = inspect.signature(DefectSynthesizer).parameters
    fields = [f for cls in (SynthConfig, FittedState) for f in dataclasses.fields(cls)]
    assert list(params) == ["backbone", *(f.name for f in fields)]
    for cls in (SynthConfig, FittedState):
        defaults = {f.name: params[f.name].default for f in dataclasses.fields(cls)}
        assert cls(**defaults) == cls()


def test_fitted_state_is_saved_apart_from_the_configuration(
    fitted: DefectSynthesizer, tmp_path: Path
) -> None:
    fitted.save_pretrained(tmp_path)
    config = json.loads((tmp_path / CONFIG).read_text())
    state = json.loads((tmp_path / FITTED).read_text())
    assert {"product", "defects", "good_images"}.isdisjoint(config)
    assert state["product"] == "pill"
    assert state["defects"] == ["spot"]
    assert state["fingerprint"] == fitted.fingerprint()
    assert {f.name for f in dataclasses.fields(SynthConfig)} <= set(config)


def test_a_folder_saved_the_old_way_still_loads(fitted: DefectSynthesizer, tmp_path: Path) -> None:
    fitted.save_pretrained(tmp_path)
    config = json.loads((tmp_path / CONFIG).read_text())
    state = json.loads((tmp_path / FITTED).read_text())
    (tmp_path / CONFIG).write_text(json.dumps(config | state))  # one config.json, as before fitted.json
    (tmp_path / FITTED).unlink()
    loaded = DefectSynthesizer.from_pretrained(tmp_path)
    assert loaded.config == fitted.config
    assert loaded.fitted == fitted.fitted


def test_inpaint_is_what_generate_does_by_default(fitted: DefectSynthesizer) -> None:
    a = fitted.generate(1, generator=4, **GEN)[0]
    b = fitted.inpaint(1, generator=4, **GEN)[0]
    assert np.array_equal(a.image, b.image)
    assert a.record == b.record


def test_text_to_image_is_generate_in_text2img_mode(fitted: DefectSynthesizer) -> None:
    kw = {"defect": "spot", "steps": 2, "generator": 6}
    a = fitted.generate(1, mode="text2img", guidance=2.0, strength=0.5, **kw)[0]
    b = fitted.text_to_image(1, w_product=2.0, w_defect=1.0, **kw)[0]
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.mask, b.mask)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mask_source": "stripes"}, ValueError, "mask_source must be 'real' or one of"),
        ({"mask_rotation": 400}, ValueError, "max_rotation must be degrees in"),
        ({"generator": "seven"}, TypeError, "generator must be an int seed"),
        (
            {"refiner": "no-org/no-refiner", "mode": "text2img"},
            ValueError,
            "refiner= applies to mode='inpaint'",
        ),
        ({"refiner": "no-org/no-refiner", "refiner_strength": 0.0}, ValueError, "refiner_strength must lie"),
    ],
)
def test_arguments_are_checked_before_any_file_is_read(
    fitted: DefectSynthesizer, tmp_path: Path, kwargs: dict, error: type, match: str
) -> None:
    missing = str(tmp_path / "no-such-image.png")  # reading it would raise a DataError instead
    with pytest.raises(error, match=match):
        fitted.generate(1, images=[missing], **(GEN | kwargs))


def test_real_masks_without_fitted_shots_say_what_to_do() -> None:
    synth = DefectSynthesizer(**TINY, product="pill", defects=("spot",))
    with pytest.raises(ValueError, match="no fitted shot mask of defect type 'spot'"):
        synth.generate(1, images=[np.full((64, 64, 3), 128, np.uint8)], **GEN)


def test_the_fingerprint_is_computed_once_until_the_weights_change(
    tiny_pills: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synth = DefectSynthesizer(**TINY)
    synth.fit(tiny_pills, **FIT)
    calls = []
    real = fingerprint_module.model_fingerprint
    monkeypatch.setattr(fingerprint_module, "model_fingerprint", lambda m: calls.append(1) or real(m))
    first = synth.fingerprint()
    for seed in range(3):
        synth.generate(1, generator=seed, **GEN)
    assert len(calls) == 1
    synth.fit(tiny_pills, **FIT)
    assert synth.fingerprint() != first
    assert len(calls) == 2


def test_lora_settings_are_refused_for_the_embedded_default(tiny_pills: Path) -> None:
    from augment.models.lora import LoraSettings

    with pytest.raises(ValueError, match="lora= sets the adapters of a pretrained backbone"):
        DefectSynthesizer(**TINY).fit(tiny_pills, **FIT, lora=LoraSettings(rank=4))


def test_capping_the_defect_free_images_is_logged(
    tiny_pills: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(batches, "MAX_GOOD_IMAGES", 5)
    synth = DefectSynthesizer(**TINY)
    with caplog.at_level(logging.INFO, logger="augment.synth.batches"):
        synth.fit(tiny_pills, **(FIT | {"steps": 1}))
    assert len(synth.fitted.good_images) == 5
    assert any("first 5 of the split's" in r.getMessage() for r in caplog.records)


def _weights(synth: DefectSynthesizer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in synth.backbone.unet.state_dict().items()}


def test_gradient_accumulation_resumes_to_the_same_weights(tiny_pills: Path, tmp_path: Path) -> None:
    kw = FIT | {"checkpoint_every": 1, "options": {"gradient_accumulation_steps": 2}}
    full = DefectSynthesizer(**TINY)
    full_losses = full.fit(tiny_pills, **(kw | {"steps": 2}), checkpoint_dir=tmp_path / "full")
    cut = DefectSynthesizer(**TINY)
    cut.fit(tiny_pills, **(kw | {"steps": 1}), checkpoint_dir=tmp_path / "cut")
    resumed = DefectSynthesizer(**TINY)
    resumed_losses = resumed.fit(
        tiny_pills, **(kw | {"steps": 2}), checkpoint_dir=tmp_path / "cut", resume=True
    )
    assert resumed_losses == full_losses
    a, b = _weights(full), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = DefectSynthesizer(**TINY).fit(tiny_pills, **(FIT | {"steps": 2}))
    assert plain != full_losses  # two micro-batches per step see other data than one
