"""The command line: every product subcommand listed, unknown ones refused, demo runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augment import cli
from augment.cli.benchmark import config_from_args

PRODUCT_COMMANDS = ("demo", "fit", "generate", "paste", "export", "benchmark", "evaluate")


def test_help_lists_every_product_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in PRODUCT_COMMANDS:
        assert name in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["future", "--anything"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'future'" in capsys.readouterr().err


def test_data_error_is_reported_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["index", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_bad_argument_value_is_reported_without_traceback(
    tiny_pills: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["index", str(tiny_pills), "--shots", "7"]) == 1
    assert "only 6 images" in capsys.readouterr().err


def test_index_command_saves_split(tiny_pills: Path, tmp_path: Path) -> None:
    assert cli.main(["index", str(tiny_pills), "--save-split", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["protocol"] == "first-third"


@pytest.mark.slow
def test_quick_demo_writes_its_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from augment.cli import demo_steps
    from tests.eval_fakes import _DummyFeatureExtractor

    monkeypatch.setattr(demo_steps, "EXTRACTOR_FACTORY", _DummyFeatureExtractor)
    assert cli.main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["split"]["shots"] == 6
    assert (tmp_path / "contact_sheet.png").stat().st_size > 10_000
    assert (tmp_path / "summary.md").read_text().startswith("# defect-synth demo")


def test_library_arguments_are_named_as_flags(
    tiny_pills: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "output folder x is not empty; choose an empty folder, or pass overwrite=True to replace it."
    assert cli.in_flags(message, cli.export).endswith("or pass --overwrite to replace it.")
    argv = ["benchmark", "--data", str(tiny_pills), "--arms", "real,synthetic", "--out", str(tmp_path)]
    assert cli.main(argv) == 1
    assert "the 'synthetic' arm needs a source: pass --synthetic FOLDER" in capsys.readouterr().err


def _benchmark_args(*extra: str) -> list[str]:
    return ["benchmark", "--data", "d", "--out", "o", "--ratio", "auto", *extra]


@pytest.mark.parametrize(
    ("flag", "grid"), [((), (0.5, 1.0, 2.0, 4.0)), (("--ratio-grid", "2,6,8"), (2.0, 6.0, 8.0))]
)
def test_ratio_grid_reaches_the_benchmark_config(flag: tuple[str, ...], grid: tuple[float, ...]) -> None:
    config = config_from_args(cli.build_parser().parse_args(_benchmark_args(*flag)))
    assert config.ratios == grid


@pytest.mark.parametrize("text", ["", "2,x", "2,0", "-1"])
def test_bad_ratio_grid_is_a_usage_error(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(_benchmark_args(f"--ratio-grid={text}"))
    assert exit_info.value.code == 2
    assert "--ratio-grid must be comma-separated numbers > 0" in capsys.readouterr().err


def test_ratio_grid_without_auto_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["benchmark", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--ratio-grid", "2,8"]
    assert cli.main(argv) == 1
    assert "--ratio-grid sets the ratios that --ratio auto tries, but --ratio is 2" in capsys.readouterr().err
