"""benchmarks/gpu_pretrained_bench.py runs end to end with --tiny (CPU), and on a GPU when there is one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"fit_steps_per_s", "minutes_per_1000_steps", "fit_peak_gib", "fit_fraction_of_matmul_peak",
        "pairs_per_s", "generate_peak_gib", "generate_fraction_of_matmul_peak"}  # fmt: skip


def _run(tmp_path: Path, *flags: str) -> dict:
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_pretrained_bench.py"), "--tiny", "--steps", "1",
               "--pairs", "1", "--sample-steps", "2", "--batch-size", "1", "--out", str(tmp_path / "r.json"),
               *flags]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp_path / "r.json").read_text())


@pytest.mark.slow
def test_tiny_benchmark_runs_on_the_cpu(tmp_path: Path) -> None:
    result = _run(tmp_path, "--device", "cpu", "--family", "sd")
    (row,) = result["rows"]
    assert set(row) >= KEYS
    assert row["fit_steps_per_s"] > 0
    assert row["fit_fraction_of_matmul_peak"] > 0


@pytest.mark.gpu
def test_tiny_benchmark_runs_on_the_gpu(tmp_path: Path) -> None:
    result = _run(tmp_path, "--device", "cuda", "--dtype", "bf16")
    assert [row["family"] for row in result["rows"]] == ["sd", "sdxl"]
    assert all(row["fit_peak_gib"] > 0 for row in result["rows"])
