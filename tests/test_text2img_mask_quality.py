"""Mask quality of text2img pairs against the fitted shots' masks (seen as training windows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augment.synth.synthesizer import DefectSynthesizer
from augment.synth.text2img import mask_quality
from augment.synth.windows import centred_window, cut_padded

RES = 16


def shot_mask() -> np.ndarray:
    mask = np.zeros((64, 64), np.uint8)
    mask[24:36, 20:40] = 1
    return mask


def window(mask: np.ndarray) -> np.ndarray:
    return cut_padded(mask, centred_window(mask, RES))


@pytest.mark.parametrize(("invert", "iou"), [(False, 1.0), (True, 0.0)])
def test_best_match_iou_of_planted_masks(invert: bool, iou: float) -> None:
    fake = window(shot_mask())
    fake = 1 - fake if invert else fake
    stats = mask_quality([fake, fake], [shot_mask()], RES)
    assert stats["best_match_iou_mean"] == pytest.approx(iou)
    assert stats["n_fake"] == 2
    assert stats["real_area_mean"] == pytest.approx(window(shot_mask()).mean())


def test_mask_quality_needs_shot_masks() -> None:
    with pytest.raises(ValueError, match="non-empty shot masks"):
        mask_quality([np.ones((RES, RES), np.uint8)], [np.zeros((64, 64), np.uint8)], RES)


@pytest.fixture(scope="module")
def fitted(tiny_pills: Path) -> DefectSynthesizer:
    synth = DefectSynthesizer(resolution=RES, channels=(8, 16, 16))
    synth.fit(tiny_pills, defects=["spot"], steps=1, batch_size=1, progress=False)
    return synth


def test_generate_reports_text2img_mask_quality(fitted: DefectSynthesizer) -> None:
    fitted.generate(
        2, defect="spot", mode="text2img", steps=3, generator=1, progress=False, mask_quality=True
    )
    stats = fitted.last_report["mask_quality"]
    assert stats["n_fake"] == 2
    assert stats["n_real"] == len(fitted.shots["spot"])
    assert 0.0 <= stats["best_match_iou_min"] <= stats["best_match_iou_mean"] <= 1.0


def test_mask_quality_is_for_text2img_only(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match="mask_quality= applies to mode='text2img'"):
        fitted.generate(1, defect="spot", steps=2, progress=False, mask_quality=True)


def test_generate_command_prints_mask_quality(
    fitted: DefectSynthesizer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from augment.cli import main

    fitted.save_pretrained(tmp_path / "model")
    argv = ["generate", "--model", str(tmp_path / "model"), "--n", "1", "--out", str(tmp_path / "bank"),
            "--mode", "text2img", "--sample-steps", "3", "--mask-quality"]  # fmt: skip
    assert main(argv) == 0
    assert '"best_match_iou_mean"' in capsys.readouterr().out
