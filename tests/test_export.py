"""Offline export: layout read back, resumable after a kill, refusals, sharded over processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from augment.cli import main
from augment.data.index import index_folder
from augment.data.pairs import read_manifest
from augment.errors import DataError
from augment.loaders.export import export_dataset
from augment.loaders.paste_bank import build_paste_bank
from augment.processes import WORLD_SIZE_VARIABLES, shard_indices

ROOT = Path(__file__).resolve().parents[1]
# `defect-synth export` as each launched process runs it, plus what that process sees on return;
# one write per process, as both share stdout (under PYTHONUNBUFFERED, print's newline is a write
# of its own, and two processes' lines were seen to interleave).
CLI_THEN_COUNT = """
import contextlib, io, json, sys
from augment.cli import main
from augment.data.pairs import read_manifest
with contextlib.redirect_stdout(io.StringIO()) as printed:
    code = main(sys.argv[1:])
counts = json.loads(printed.getvalue())
counts["records_on_return"] = len(read_manifest(counts["out"]))
sys.stdout.write(json.dumps(counts) + "\\n")
sys.exit(code)
"""


class KilledError(Exception):
    pass


@pytest.fixture(scope="module")
def bank(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_paste_bank(tiny_pills, tmp_path_factory.mktemp("bank"))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def single(bank: Path, tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the whole export (ratio 0.5, every defect type: 9 jobs) by one process."""
    out = tmp_path_factory.mktemp("single") / "out"
    export_dataset(bank, tiny_pills, out, ratio=0.5, progress=False)
    return out


def _records(root: Path) -> dict[str, dict[str, Any]]:
    """Manifest records by name, less the writer's rank (the one field that depends on who wrote)."""
    return {r["name"]: {k: v for k, v in r.items() if k != "rank"} for r in read_manifest(root)}


def _assert_same_export(root: Path, reference: Path) -> None:
    """Same files, same bytes (synthetic PNGs, real files, state), same records whatever the line order."""
    files, expected = _files(root), _files(reference)
    del files["manifest.jsonl"], expected["manifest.jsonl"]
    assert files == expected
    assert _records(root) == _records(reference)


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


def _mvtec_read(root: Path) -> list[tuple[Path, Path | None, str]]:
    """An MVTec AD reader written from the layout's convention alone (not the project's index):
    ``<product>/{train,test}/<type>/*.png`` with ``ground_truth/<type>/<stem>_mask.png`` for
    every test image that is not ``good``."""
    items = []
    for image in sorted(root.glob("*/*/*/*.png")):
        product, split, kind = image.parts[-4:-1]
        if split not in ("train", "test"):
            continue
        mask = None if kind == "good" else root / product / "ground_truth" / kind / f"{image.stem}_mask.png"
        items.append((image, mask, kind))
    return items


def test_export_is_read_by_a_plain_mvtec_reader(bank: Path, tiny_pills: Path, tmp_path: Path) -> None:
    export_dataset(bank, tiny_pills, tmp_path / "out", ratio=0.5, progress=False)
    items = _mvtec_read(tmp_path / "out")
    synthetic = [(i, m) for i, m, _ in items if i.name.startswith("synthetic-")]
    assert len(synthetic) == len(read_manifest(tmp_path / "out"))
    for image, mask in synthetic:
        assert mask is not None
        assert mask.is_file()
        with Image.open(image) as im, Image.open(mask) as mk:
            assert im.size == mk.size
            assert np.asarray(mk).max() == 255
    assert len(items) == len(index_folder(tmp_path / "out").samples)


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


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_ranks_one_after_another_equal_one_process(
    order: tuple[int, int], bank: Path, tiny_pills: Path, single: Path, tmp_path: Path
) -> None:
    for rank in order:
        counts = export_dataset(
            bank, tiny_pills, tmp_path / "out", ratio=0.5, rank=rank, world_size=2, progress=False
        )
        share = shard_indices(counts["synthetic"], rank, 2)
        assert (counts["rank"], counts["world_size"]) == (rank, 2)
        assert counts["share"] == counts["written_now"] == len(share) > 0
        assert sorted(r["job"] for r in read_manifest(tmp_path / "out") if r["rank"] == rank) == list(share)
    _assert_same_export(tmp_path / "out", single)


def test_killed_sharded_export_finishes_with_another_number_of_processes(
    bank: Path, tiny_pills: Path, single: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(KilledError):  # rank 0 of 2 (jobs 0-3) dies after job 0
        export_dataset(
            bank, tiny_pills, out, ratio=0.5, rank=0, world_size=2, progress=False, on_pair=_kill_after(1)
        )
    export_dataset(bank, tiny_pills, out, ratio=0.5, rank=1, world_size=3, progress=False)  # jobs 3-5
    counts = export_dataset(bank, tiny_pills, out, ratio=0.5, progress=False)
    assert (counts["rank"], counts["world_size"], counts["written_now"]) == (0, 1, 9 - 1 - 3)
    _assert_same_export(out, single)


def test_lone_process_export_leaves_accelerate_alone(
    bank: Path, tiny_pills: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a launcher the export never creates accelerate's per-process state (a side effect)."""

    def no_state() -> None:
        raise AssertionError("accelerate's PartialState created outside a launcher")

    for name in WORLD_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("augment.processes._state", no_state)
    counts = export_dataset(bank, tiny_pills, tmp_path / "out", ratio=0.5, defects=["spot"], progress=False)
    assert (counts["rank"], counts["world_size"], counts["written_now"]) == (0, 1, 3)


@pytest.mark.parametrize(
    ("rank", "world_size", "message"),
    [(1, None, "pass both rank and world_size"), (2, 2, r"rank must be in \[0, 2\)")],
)
def test_export_rejects_a_bad_share(
    rank: int, world_size: int | None, message: str, bank: Path, tiny_pills: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message):
        export_dataset(bank, tiny_pills, tmp_path, rank=rank, world_size=world_size)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_export_command_under_accelerate_two_cpu_processes(
    bank: Path, tiny_pills: Path, single: Path, tmp_path: Path
) -> None:
    """`defect-synth export` under ``accelerate launch`` (2 CPU processes, torchrun + gloo)."""
    (tmp_path / "cli_then_count.py").write_text(CLI_THEN_COUNT)
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--multi_gpu",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        str(tmp_path / "cli_then_count.py"), "export", "--model", str(bank), "--data", str(tiny_pills),
        "--out", str(tmp_path / "out"), "--ratio", "0.5",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = {c["rank"]: c for c in map(json.loads, done.stdout.splitlines())}
    assert sorted(counts) == [0, 1]
    assert [c["records_on_return"] for c in counts.values()] == [9, 9]
    records = read_manifest(tmp_path / "out")
    jobs = Counter(r["job"] for r in records)
    assert sorted(jobs) == list(range(9))
    assert set(jobs.values()) == {1}
    for rank, count in counts.items():
        share = shard_indices(9, rank, 2)
        assert count["written_now"] == len(share)
        assert sorted(r["job"] for r in records if r["rank"] == rank) == list(share)
    _assert_same_export(tmp_path / "out", single)
