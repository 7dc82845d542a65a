"""'defect-synth fit' then 'defect-synth generate' on tiny data write a model, a bank and a contact
sheet; 'fit --split' trains on exactly the shots of a benchmark's saved split."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from augment.cli import main
from augment.cli.benchmark import is_benchmark_output, save_splits
from augment.data.index import index_folder
from augment.data.pairs import read_manifest
from augment.data.split import FewShotSplit, make_split
from downstream.shots import fewer_shots


def test_fit_then_generate_writes_bank_and_sheet(tiny_pills: Path, tmp_path: Path) -> None:
    model, bank = tmp_path / "model", tmp_path / "bank"
    fit = [
        "fit",
        "--data",
        str(tiny_pills),
        "--out",
        str(model),
        "--defect",
        "spot",
        "--steps",
        "2",
        "--resolution",
        "16",
        "--batch-size",
        "2",
    ]
    assert main(fit) == 0
    assert (model / "config.json").is_file()
    assert (model / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (
        main(
            [
                "generate",
                "--model",
                str(model),
                "--n",
                "2",
                "--out",
                str(bank),
                "--sample-steps",
                "2",
                "--no-quality-filter",
                "--data",
                str(tiny_pills),
            ]
        )
        == 0
    )
    records = read_manifest(bank)
    assert [r["defect"] for r in records] == ["spot", "spot"]
    assert all(Path(r["source_image"]).is_relative_to(tiny_pills) for r in records)
    assert all(Path(r["source_image"]).is_file() for r in records)
    assert (bank / "contact_sheet.png").is_file()


def test_generate_from_a_folder_that_is_no_model(tmp_path: Path, capsys) -> None:
    assert main(["generate", "--model", str(tmp_path), "--n", "1", "--out", str(tmp_path / "b")]) == 1
    assert "is not a saved synthesizer" in capsys.readouterr().err


@pytest.fixture
def one_shot_split(tiny_pills: Path, tmp_path: Path) -> tuple[FewShotSplit, Path]:
    """A benchmark's 1-shot setting of the tiny pills, saved as the benchmark saves it."""
    base = make_split(index_folder(tiny_pills))
    paths = save_splits(base, [1, None], tmp_path / "bench")
    return fewer_shots(base, 1, base.seed), paths[1]


def test_fit_on_a_saved_split_trains_on_exactly_its_shots(
    one_shot_split: tuple[FewShotSplit, Path], tmp_path: Path
) -> None:
    split, path = one_shot_split
    argv = ["fit", "--split", str(path), "--out", str(tmp_path / "m"), "--defect", "spot"]
    assert main([*argv, "--steps", "1", "--resolution", "16", "--batch-size", "2"]) == 0
    fitted = json.loads((tmp_path / "m" / "fitted.json").read_text())
    assert path.name == "split-1shot.json"
    assert fitted["shot_images"] == [str(s.image) for s in split.shots if s.defect == "spot"]
    assert is_benchmark_output(path.parent)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "give the dataset as --data DIR .* or as --split FILE"),
        (["--data", "{data}", "--split", "{split}"], "exactly one of them"),
        (["--split", "{split}", "--shots", "2"], "--split fixes the shots.*drop --shots"),
    ],
)
def test_fit_takes_either_data_or_a_saved_split(
    one_shot_split: tuple[FewShotSplit, Path],
    tiny_pills: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    filled = [f.format(data=tiny_pills, split=one_shot_split[1]) for f in flags]
    assert main(["fit", *filled, "--out", str(tmp_path / "m"), "--steps", "1"]) == 1
    assert re.search(message, capsys.readouterr().err)
