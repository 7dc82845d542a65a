"""'defect-synth fit' then 'defect-synth generate' on tiny data write a model, a bank and a contact sheet."""

from __future__ import annotations

from pathlib import Path

from augment.cli import main
from augment.data.pairs import read_manifest


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
