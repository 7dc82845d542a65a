"""Fitting under ``accelerate launch`` (two CPU processes: torchrun + gloo): one model, the same code path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from augment.models.pretrained import load_backbone
from augment.synth.synthesizer import DefectSynthesizer
from tests.tiny_components import save_tiny_pipeline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def launched(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("launched")
    base = save_tiny_pipeline("sd-inpaint", out / "base")
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--multi_gpu",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        str(ROOT / "tests" / "launched_fit.py"), str(tiny_pills), str(base), str(out),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _ranks(out: Path) -> list[dict]:
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.mark.slow
def test_both_processes_end_with_the_same_weights(launched: Path) -> None:
    first, second = _ranks(launched)
    assert first["whole"] == second["whole"]


@pytest.mark.slow
def test_a_resumed_launch_equals_an_uninterrupted_one(launched: Path) -> None:
    for rank in _ranks(launched):
        assert rank["resumed"] == rank["whole"]
    state = torch.load(launched / "whole" / "checkpoint.pt", weights_only=False)
    assert len(state["ranks"]) == 2  # each process's own random streams
    assert json.loads((launched / "whole" / "run.json").read_text())["processes"] == 2


@pytest.mark.slow
def test_two_processes_train_on_twice_the_batch(launched: Path, tiny_pills: Path) -> None:
    one = DefectSynthesizer(backbone=load_backbone(str(launched / "base")), resolution=16)
    one.fit(tiny_pills, defects=["spot"], steps=3, batch_size=1, progress=False, prior_steps=0)
    assert one.fingerprint() != _ranks(launched)[0]["whole"]


@pytest.mark.slow
def test_fit_command_under_launch_saves_one_model(launched: Path) -> None:
    assert [rank["cli"] for rank in _ranks(launched)] == [0, 0]
    saved = DefectSynthesizer.from_pretrained(launched / "cli")
    assert saved.defects == ["spot"]
