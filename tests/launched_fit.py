"""Run by ``tests/test_fit_processes.py`` under ``accelerate launch`` (not a test module itself).

Every process fits the same tiny LoRA model three times (uninterrupted; cut after 2 steps; resumed
to 3) and once through the command line, then writes the fingerprints it ended with.

    accelerate launch --multi_gpu --num_processes 2 tests/launched_fit.py DATA BASE OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from augment.cli import main as cli
from augment.models.pretrained import load_backbone
from augment.processes import process_rank
from augment.synth.synthesizer import DefectSynthesizer

KW = {"defects": ["spot"], "batch_size": 1, "progress": False, "prior_steps": 0, "checkpoint_every": 1}


def run(data: str, base: str, out: Path) -> None:
    def fresh() -> DefectSynthesizer:
        return DefectSynthesizer(backbone=load_backbone(base), resolution=16)

    whole, cut, resumed = fresh(), fresh(), fresh()
    whole.fit(data, steps=3, checkpoint_dir=out / "whole", **KW)
    cut.fit(data, steps=2, checkpoint_dir=out / "cut", **KW)
    resumed.fit(data, steps=3, checkpoint_dir=out / "cut", resume=True, **KW)
    code = cli(["fit", "--data", data, "--out", str(out / "cli"), "--defect", "spot", "--steps", "2",
                "--batch-size", "1", "--resolution", "16", "--backbone", base, "--threads", "1"])  # fmt: skip
    rank = process_rank()[0]
    result = {"whole": whole.fingerprint(), "resumed": resumed.fingerprint(), "cli": code}
    (out / f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
