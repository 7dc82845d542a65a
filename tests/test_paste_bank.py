"""The paste bank (`build_paste_bank`) and its command, ``defect-synth paste``."""

from __future__ import annotations

from pathlib import Path

import pytest

from augment import cli
from augment.data.pairs import read_manifest
from augment.errors import OutputError
from augment.files import CONTACT_SHEET
from augment.loaders.paste_bank import build_paste_bank


@pytest.mark.parametrize(
    ("per_shot", "blend"), [(0, "feather"), (1.5, "feather"), (True, "feather"), (1, "poisson")]
)
def test_bad_arguments_are_refused_before_any_file_is_written(
    tiny_pills: Path, tmp_path: Path, per_shot: object, blend: str
) -> None:
    with pytest.raises(ValueError, match=r"(per_shot|blend) must"):
        build_paste_bank(tiny_pills, tmp_path / "bank", per_shot=per_shot, blend=blend)  # type: ignore[arg-type]
    assert not (tmp_path / "bank").exists()


def test_a_second_bank_into_the_same_folder_is_refused_and_the_first_kept(
    tiny_pills: Path, tmp_path: Path
) -> None:
    bank = build_paste_bank(tiny_pills, tmp_path / "bank")
    before = read_manifest(bank)
    with pytest.raises(OutputError, match="already holds a bank"):
        build_paste_bank(tiny_pills, bank, seed=1)
    assert read_manifest(bank) == before


def test_records_name_their_target_image(tiny_pills: Path, tmp_path: Path) -> None:
    records = read_manifest(build_paste_bank(tiny_pills, tmp_path / "bank"))
    assert all(Path(r["source_image"]).parent.name == "good" for r in records)


def test_the_paste_command_writes_a_seamless_bank_and_its_sheet(
    tiny_pills: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bank"
    assert cli.main(["paste", "--data", str(tiny_pills), "--out", str(out), "--per-shot", "2"]) == 0
    records = read_manifest(out)
    assert len(records) == 2 * 6  # tiny_pills: 3 types x 2 shots (first third of 6), 2 pastes each
    assert {r["paste_blend"] for r in records} == {"seamless"}
    assert (out / CONTACT_SHEET).is_file()
    assert f"wrote {len(records)} pairs" in capsys.readouterr().out


def test_the_paste_command_names_its_flags_in_errors(
    tiny_pills: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["paste", "--data", str(tiny_pills), "--out", str(tmp_path / "b"), "--per-shot", "0"]
    assert cli.main(argv) == 1
    assert "--per-shot must be a whole number >= 1" in capsys.readouterr().err
