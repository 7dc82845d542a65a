"""fit(resume=True) continues the same run or refuses, naming what differs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from augment import cli
from augment.files import RUN
from augment.synth.synthesizer import DefectSynthesizer

TINY = {"resolution": 16, "channels": (8, 16, 16)}
KW = {"defects": ["spot"], "batch_size": 2, "checkpoint_every": 1, "progress": False}


@pytest.fixture
def cut(tiny_pills: Path, tmp_path: Path) -> Path:
    """A checkpoint folder after 2 of the run's steps."""
    DefectSynthesizer(**TINY).fit(tiny_pills, steps=2, checkpoint_dir=tmp_path / "cut", **KW)
    return tmp_path / "cut"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"seed": 9}, "seed 9 (checkpoint: 0)"),
        ({"batch_size": 4}, "batch_size 4 (checkpoint: 2)"),
        ({"lr": 1e-2}, "lr 0.01 (checkpoint: 0.001)"),
        ({"defects": ["crack"]}, "defects ['crack'] (checkpoint: ['spot'])"),
    ],
    ids=["seed", "batch", "lr", "defect"],
)
def test_resume_with_other_settings_is_refused(tiny_pills: Path, cut: Path, change: dict, named: str) -> None:
    with pytest.raises(ValueError, match="resume=True continues the run in") as info:
        DefectSynthesizer(**TINY).fit(tiny_pills, steps=4, checkpoint_dir=cut, resume=True, **(KW | change))
    assert named in str(info.value)


def test_resume_with_other_data_is_refused(tiny_pills: Path, cut: Path, tmp_path: Path) -> None:
    other = shutil.copytree(tiny_pills, tmp_path / "other" / "pill")
    (other / "train" / "good" / "000.png").unlink()
    with pytest.raises(ValueError, match=r"data fingerprint '\w+' \(checkpoint: '\w+'\)"):
        DefectSynthesizer(**TINY).fit(other, steps=4, checkpoint_dir=cut, resume=True, **KW)


def test_resume_of_the_same_run_may_go_further(tiny_pills: Path, cut: Path) -> None:
    losses = DefectSynthesizer(**TINY).fit(tiny_pills, steps=3, checkpoint_dir=cut, resume=True, **KW)
    assert len(losses) == 3
    assert json.loads((cut / RUN).read_text())["seed"] == 0


def test_a_new_run_replaces_the_old_checkpoint(tiny_pills: Path, cut: Path) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # killed before the new run's first checkpoint

    synth = DefectSynthesizer(**TINY)
    synth.backbone.unet.register_forward_pre_hook(fail)
    with pytest.raises(KeyboardInterrupt):
        synth.fit(tiny_pills, steps=2, checkpoint_dir=cut, **(KW | {"seed": 5}))
    assert not (cut / "checkpoint.pt").exists()  # the seed-0 weights can no longer pass as seed 5's
    assert json.loads((cut / RUN).read_text())["seed"] == 5


def test_cli_resume_names_the_flag(
    tiny_pills: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "fit",
        "--data",
        str(tiny_pills),
        "--defect",
        "spot",
        "--out",
        str(tmp_path / "m"),
        "--batch-size",
        "2",
    ]
    assert cli.main([*base, "--steps", "1", "--checkpoint-every", "1", "--resolution", "16"]) == 0
    assert cli.main([*base, "--steps", "2", "--resolution", "16", "--resume", "--seed", "3"]) == 1
    err = capsys.readouterr().err
    assert "--resume continues the run in" in err
    assert "seed 3 (checkpoint: 0)" in err
    assert torch.load(tmp_path / "m" / "checkpoints" / "checkpoint.pt", weights_only=False)["step"] == 1
