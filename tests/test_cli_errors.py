"""No raw traceback reaches a user: library errors are one line, anything else an internal error
with a log file; every case of issue 13's list gets a clear answer."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from augment import cli
from augment.cli import demo, failures
from augment.errors import DataError, TooFewPairsError
from augment.files import SHOTS
from augment.loaders.wrappers import MixedDefectDataset
from augment.synth.synthesizer import DefectSynthesizer
from tests.mixed_data import texture


@pytest.fixture(scope="module")
def model(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(tiny_pills, defects=["crack"], steps=1, batch_size=2, progress=False)
    return synth.save_pretrained(tmp_path_factory.mktemp("model") / "m")


@pytest.fixture(autouse=True)
def logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEFECT_SYNTH_LOG_DIR", str(tmp_path / "logs"))
    return tmp_path / "logs"


def _numpy_failure(args: object) -> int:
    np.random.default_rng(0).integers(0, 0)  # numpy's own ValueError: "high <= 0"
    return 0


def test_an_escaped_exception_is_an_internal_error_with_a_log(
    tiny_pills: Path, logs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli.index, "run", _numpy_failure)
    assert cli.main(["index", str(tiny_pills)]) == failures.INTERNAL_EXIT
    err = capsys.readouterr().err.strip()
    assert err.startswith("defect-synth index: internal error in index: ValueError: high <= 0 (traceback in ")
    assert len(err.splitlines()) == 1
    log = next(logs.glob("index-*.log"))
    assert str(log) in err
    text = log.read_text()
    assert "Traceback" in text
    assert "_numpy_failure" in text
    assert f"defect-synth index {tiny_pills}" in text


def test_the_demo_names_the_step_that_failed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(demo, "STEPS", [("fit", lambda state: _numpy_failure(state))])
    assert cli.main(["demo", "--out", str(tmp_path / "d")]) == failures.INTERNAL_EXIT
    assert "internal error in demo step 'fit': ValueError: high <= 0" in capsys.readouterr().err


def test_too_few_pairs_is_a_library_error(model: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    original = DefectSynthesizer.generate
    monkeypatch.setattr(DefectSynthesizer, "generate", functools.partialmethod(original, max_attempts=1))
    argv = [
        "generate",
        "--model",
        str(model),
        "--n",
        "2",
        "--sample-steps",
        "2",
        "--out",
        str(tmp_path / "b"),
    ]
    assert cli.main(argv) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("defect-synth generate: error: only 1 of 2 crack pairs passed the quality filter")
    assert last.endswith("or pass --no-quality-filter.")
    assert issubclass(TooFewPairsError, RuntimeError)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be an integer >= 1, got 0"),
        (["--checkpoint-every", "0"], "--checkpoint-every must be an integer >= 1, got 0"),
        (["--lr", "-1"], "--lr must be a positive number"),
        (["--threads", "0"], "threads must be an integer >= 1"),
    ],
    ids=["batch-size", "checkpoint-every", "lr", "threads"],
)
def test_bad_fit_numbers_are_refused(
    tiny_pills: Path, tmp_path: Path, flags: list[str], message: str, capsys
) -> None:
    argv = ["fit", "--data", str(tiny_pills), "--out", str(tmp_path / "m"), "--steps", "1", *flags]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "internal error" not in err


def test_divergence_without_checkpoint_says_fit_again(tiny_pills: Path) -> None:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    with pytest.raises(
        RuntimeError, match=r"no checkpoint was written yet\. Lower the learning rate .* fit again\.$"
    ):
        synth.fit(tiny_pills, defects=["crack"], steps=3, lr=1e8, batch_size=2, progress=False)


def test_no_defect_images_is_explained(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "good").mkdir(parents=True)
    for k in range(2):
        Image.fromarray(texture(16, 16, np.random.default_rng(k))).save(root / "good" / f"{k}.png")
    with pytest.raises(DataError, match="has no defect image with a mask to learn from"):
        DefectSynthesizer(resolution=16, channels=(8, 16, 16)).fit(root, steps=1, progress=False)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda m: _truncate(next((m / "unet").glob("*.safetensors"))),
            r"unet/\S+\.safetensors cannot be read",
        ),
        (lambda m: _truncate(m / SHOTS), r"shots\.safetensors cannot be read"),
        (lambda m: shutil.rmtree(m / "unet"), r"unet/ is missing"),
    ],
    ids=["truncated-unet", "truncated-shots", "missing-unet"],
)
def test_damaged_model_folder_names_the_file(
    model: Path, tmp_path: Path, damage, message: str, capsys
) -> None:
    copy = Path(shutil.copytree(model, tmp_path / "m"))
    damage(copy)
    with pytest.raises(DataError, match=f"model folder {copy} is incomplete or damaged: {message}.*refit"):
        DefectSynthesizer.from_pretrained(copy)
    argv = ["generate", "--model", str(copy), "--n", "1", "--out", str(tmp_path / "b")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "huggingface.co" not in err
    assert "copy the whole folder again" in err


class _Base(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return {"image": np.zeros((32, 32, 3), np.uint8), "mask": np.zeros((16, 32), np.uint8)}


def test_mixed_dataset_refuses_a_mask_of_another_size(tiny_pills: Path) -> None:
    mixed = MixedDefectDataset(_Base(), synthetic_ratio=1.0, source=tiny_pills)
    with pytest.raises(ValueError, match=r"sample 0 of the base dataset has a 32x16 mask for a 32x32 image"):
        mixed[0]
