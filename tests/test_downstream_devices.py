"""Where the benchmark runs: device selection, bf16 autocast, and the command's flags."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from augment.cli import build_parser
from augment.data.index import index_folder
from augment.data.split import make_split
from downstream.config import BenchmarkConfig
from downstream.protocol import run_benchmark
from tests.tiny_detector import TINY_DETECTOR

TINY = TINY_DETECTOR | {
    "previews": 1,
    "n_boot": 20,
    "seeds": (0,),
    "arms": ("real",),
    "steps": 2,
    "eval_every": 1,
}


def test_auto_is_the_cpu_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert BenchmarkConfig(device="auto").device == "cpu"


def test_auto_is_the_gpu_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    config = BenchmarkConfig(device="auto")
    assert config.device == "cuda:0"
    assert config.train_config(0).device == "cuda:0"
    with pytest.raises(ValueError, match="use workers=1"):
        BenchmarkConfig(device="cuda:1", workers=2)


def test_cuda_without_a_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="asks for a GPU"):
        BenchmarkConfig(device="cuda")


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_the_cpu_path_runs_in_each_dtype(tiny_pills: Path, dtype: str) -> None:
    result = run_benchmark(
        make_split(index_folder(tiny_pills)), BenchmarkConfig(device="cpu", dtype=dtype, **TINY)
    )
    assert result["machine"]["device"] == "cpu"
    assert result["config"]["dtype"] == dtype
    assert 0.0 <= result["runs"][0]["metrics"]["all"]["pixel_auroc"] <= 1.0


@pytest.mark.gpu
def test_the_gpu_path_runs_in_bf16(tiny_pills: Path) -> None:
    result = run_benchmark(
        make_split(index_folder(tiny_pills)), BenchmarkConfig(device="cuda", dtype="bf16", **TINY)
    )
    assert result["machine"]["device"].startswith("cuda")
    assert result["machine"]["gpu"]


def test_benchmark_command_takes_device_dtype_and_workers() -> None:
    sub = build_parser()._subparsers._group_actions[0].choices["benchmark"]  # type: ignore[union-attr]
    actions = {a.dest: a for a in sub._actions}
    assert actions["device"].default == "auto"
    assert (actions["dtype"].default, actions["dtype"].choices) == ("fp32", ["fp32", "bf16"])
    assert actions["workers"].default >= 1
    assert actions["seeds"].default == 5
