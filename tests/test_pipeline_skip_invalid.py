"""Issue 11's 'done when': a mixed-size dataset with a few invalid files runs through index, fit,
generate, export, benchmark and evaluate with --skip-invalid, and each lists what it skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augment import cli
from eval import compare
from tests.eval_fakes import _DummyFeatureExtractor
from tests.mixed_data import add_invalid_files, mixed_dataset

SKIPPED = "skipped 7 invalid files"


@pytest.mark.slow
def test_every_command_runs_without_the_invalid_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(compare, "load_inception", _DummyFeatureExtractor)
    data = mixed_dataset(tmp_path)
    add_invalid_files(data)
    out = tmp_path / "out"
    d = str(data)
    bench = "--seeds 1 --steps 2 --resolution 64 --encoder-depth 3 --decoder-channels 16,8,8 --batch-size 2"
    steps = [  # temporary paths hold no spaces, so each command line splits on them
        f"index {d} --save-split {out}/split.json",
        f"fit --data {d} --out {out}/model --steps 2 --batch-size 2",
        f"generate --model {out}/model --data {d} --n 2 --sample-steps 2 --no-quality-filter --out {out}/bank",
        f"export --model {out}/bank --data {d} --ratio 1 --out {out}/export",
        f"benchmark --data {d} --synthetic {out}/bank --arms real,synthetic,copy-paste {bench} --out {out}/bench",
        f"evaluate --real {d} --fake {out}/bank --metrics kid,masks --out {out}/eval",
    ]
    for line in steps:
        argv = line.split()
        assert cli.main([*argv, "--skip-invalid"]) == 0, argv[0]
        printed = capsys.readouterr()
        if argv[0] in ("index", "fit", "generate", "benchmark"):
            assert SKIPPED in printed.out, argv[0]
    assert len(json.loads((out / "split.json").read_text())["invalid"]) == 7
    assert len(json.loads((out / "bench" / "split.json").read_text())["invalid"]) == 7
    assert not list((out / "export").rglob("truncated.png"))
    assert cli.main(steps[1].replace("model", "model2").split()) == 1  # without the flag, nothing runs
    assert "7 invalid files" in capsys.readouterr().err
