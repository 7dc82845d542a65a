"""Offline export: layout read back, resumable after a kill, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from augment.cli import main
from augment.export import export_dataset
from augment.imageio import DataError
from augment.index import index_folder
from augment.pairs import read_manifest
from augment.paste_bank import build_paste_bank


class KilledError(Exception):
    pass


@pytest.fixture(scope="module")
def bank(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_paste_bank(tiny_pills, tmp_path_factory.mktemp("bank"))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _kill_after(k: int):
    def hook(written: int) -> None:
        if written >= k:
            raise KilledError

    return hook


def test_export_is_read_back_by_the_index(bank: Path, tiny_pills: Path, tmp_path: Path) -> None:
    counts = export_dataset(bank, tiny_pills, tmp_path / "out", ratio=0.5, defects=["spot"], progress=False)
    index = index_folder(tmp_path / "out")
    assert counts["synthetic"] == 3
    assert index.counts()["pill"]["spot"] == 6 + 3
    assert len(read_manifest(tmp_path / "out")) == 3


def test_killed_export_rerun_equals_uninterrupted(bank: Path, tiny_pills: Path, tmp_path: Path) -> None:
    export_dataset(bank, tiny_pills, tmp_path / "full", ratio=0.5, progress=False)
    with pytest.raises(KilledError):
        export_dataset(bank, tiny_pills, tmp_path / "cut", ratio=0.5, progress=False, on_pair=_kill_after(4))
    (tmp_path / "cut" / "pill" / "test" / "crack" / ".half-written.png.tmp").write_bytes(b"torn")
    with open(tmp_path / "cut" / "manifest.jsonl", "a") as fh:
        fh.write('{"name": "torn')
    export_dataset(bank, tiny_pills, tmp_path / "cut", ratio=0.5, progress=False)
    assert _files(tmp_path / "cut") == _files(tmp_path / "full")


def test_export_refuses_a_foreign_non_empty_folder(bank: Path, tiny_pills: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="is not empty and is not an export folder"):
        export_dataset(bank, tiny_pills, tmp_path, ratio=0.5, progress=False)


def test_export_refuses_other_arguments_unless_overwrite(
    bank: Path, tiny_pills: Path, tmp_path: Path
) -> None:
    export_dataset(bank, tiny_pills, tmp_path / "out", ratio=0.5, defects=["spot"], progress=False)
    with pytest.raises(DataError, match="holds an export with other arguments"):
        export_dataset(bank, tiny_pills, tmp_path / "out", ratio=1.0, defects=["spot"], progress=False)
    counts = export_dataset(
        bank, tiny_pills, tmp_path / "out", ratio=1.0, defects=["spot"], overwrite=True, progress=False
    )
    assert len(read_manifest(tmp_path / "out")) == counts["synthetic"] == 6


def test_export_command(bank: Path, tiny_pills: Path, tmp_path: Path, capsys) -> None:
    code = main(
        [
            "export",
            "--model",
            str(bank),
            "--data",
            str(tiny_pills),
            "--out",
            str(tmp_path / "o"),
            "--ratio",
            "0.5",
            "--defect",
            "crack",
        ]
    )
    assert code == 0
    assert '"synthetic": 3' in capsys.readouterr().out


def test_export_rejects_a_bad_ratio(bank: Path, tiny_pills: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"ratio .* must be > 0"):
        export_dataset(bank, tiny_pills, tmp_path, ratio=0)
