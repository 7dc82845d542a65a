"""Sharded generation: every index exactly once, across ranks and under ``accelerate launch``."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from augment.data.pairs import append_line, read_manifest
from augment.processes import WORLD_SIZE_VARIABLES, shard_indices, under_launcher
from augment.synth.synthesizer import DefectSynthesizer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("n", [0, 1, 7, 20, 101])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_cover_every_index_once(n: int, world: int) -> None:
    indices = [i for rank in range(world) for i in shard_indices(n, rank, world)]
    assert indices == list(range(n))


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((5, 2, 2), ValueError, r"rank must be in \[0, 2\)"),
        ((5, 0, 0), ValueError, "world_size must be >= 1"),
        ((-1, 0, 1), ValueError, "n must be >= 0"),
        ((5.0, 0, 1), TypeError, "n must be an integer"),
    ],
)
def test_bad_shard_arguments(args: tuple, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        shard_indices(*args)


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, False), ({"WORLD_SIZE": "1"}, False), ({"WORLD_SIZE": "2"}, True), ({"PMI_SIZE": "4"}, True)],
)
def test_under_launcher_reads_the_environment(
    env: dict[str, str], expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in WORLD_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert under_launcher() is expected


def test_under_launcher_rejects_a_bad_world_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE must be an integer world size, got 'two'"):
        under_launcher()


def _append_lines(path: Path, writer: int, n: int, size: int) -> None:
    for i in range(n):
        append_line(path, json.dumps({"writer": writer, "i": i, "pad": "x" * size}) + "\n")


def test_concurrent_appends_stay_whole_lines(tmp_path: Path) -> None:
    """Two processes append 9 KB lines (over PIPE_BUF) to one file: each line arrives whole, once."""
    path = tmp_path / "manifest.jsonl"
    context = multiprocessing.get_context("fork")  # no re-import of this (heavy) test module
    writers = [context.Process(target=_append_lines, args=(path, w, 60, 9000)) for w in (0, 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted((line["writer"], line["i"]) for line in lines) == [
        (w, i) for w in (0, 1) for i in range(60)
    ]


@pytest.mark.slow
def test_accelerate_two_cpu_processes_write_each_index_once(tiny_pills: Path, tmp_path: Path) -> None:
    """Two CPU processes (torchrun + gloo through accelerate; see ``process_rank``) make 20 pairs."""
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(tiny_pills, defects=["spot"], steps=1, batch_size=2, progress=False)
    synth.save_pretrained(tmp_path / "model")
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--multi_gpu",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        str(ROOT / "examples" / "sharded_generate.py"), "--model", str(tmp_path / "model"),
        "--n", "20", "--out", str(tmp_path / "bank"), "--sample-steps", "2", "--no-quality-filter",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    records = read_manifest(tmp_path / "bank")
    counts = Counter(record["index"] for record in records)
    assert sorted(counts) == list(range(20))
    assert set(counts.values()) == {1}
    assert {record["rank"] for record in records} == {0, 1}
    assert len(list((tmp_path / "bank").rglob("synth_spot_*.png"))) == 40  # image + mask each
