"""Output folders: checked before any work, never another's data overwritten or contaminated,
a full disk or a file-size limit reported as one line."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from augment import cli
from augment.data import outputs
from augment.data.pairs import read_manifest
from augment.synth.synthesizer import DefectSynthesizer

GENERATE = ["--n", "2", "--sample-steps", "2", "--no-quality-filter"]


@pytest.fixture(scope="module")
def model(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = DefectSynthesizer(resolution=16, channels=(8, 16, 16))
    synth.fit(tiny_pills, defects=["crack"], steps=1, batch_size=2, progress=False)
    return synth.save_pretrained(tmp_path_factory.mktemp("model") / "m")


def _files(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_generate_twice_into_one_folder_is_refused(model: Path, tmp_path: Path, capsys) -> None:
    bank = tmp_path / "bank"
    assert cli.main(["generate", "--model", str(model), "--out", str(bank), *GENERATE]) == 0
    before = _files(bank)
    assert cli.main(["generate", "--model", str(model), "--out", str(bank), *GENERATE, "--seed", "1"]) == 1
    err = capsys.readouterr().err
    assert "already holds a bank of 2 pairs from an earlier run; pass --append" in err
    assert _files(bank) == before


def test_append_adds_new_names_and_never_repeats_a_seed(model: Path, tmp_path: Path, capsys) -> None:
    bank = tmp_path / "bank"
    argv = ["generate", "--model", str(model), "--out", str(bank), *GENERATE]
    assert cli.main(argv) == 0
    first = _files(bank)
    assert cli.main([*argv, "--append", "--seed", "1"]) == 0
    records = read_manifest(bank)
    names = [r["name"] for r in records]
    assert len(records) == 4
    assert len(set(names)) == 4
    assert len({r["image"] for r in records}) == 4
    pairs = {k: v for k, v in first.items() if k.startswith("pill/")}
    assert len(pairs) == 4
    assert all(_files(bank)[k] == v for k, v in pairs.items())  # the first run's pairs are untouched
    assert cli.main([*argv, "--append"]) == 1
    assert "already holds pairs of seed 0 with this model" in capsys.readouterr().err
    assert len(read_manifest(bank)) == 4


def test_generate_never_writes_into_a_dataset(model: Path, tiny_pills: Path, tmp_path: Path, capsys) -> None:
    real = shutil.copytree(tiny_pills, tmp_path / "mvtec" / "pill")
    before = _files(real)
    assert cli.main(["generate", "--model", str(model), "--out", str(real.parent), *GENERATE]) == 1
    err = capsys.readouterr().err
    assert "holds data this command did not make (pill)" in err
    assert _files(real) == before


def test_fit_never_writes_into_a_dataset(tiny_pills: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    real = shutil.copytree(tiny_pills, tmp_path / "pill")
    monkeypatch.setattr(DefectSynthesizer, "fit", _never)
    assert cli.main(["fit", "--data", str(real), "--out", str(real), "--steps", "1"]) == 1
    assert "fit output folder" in capsys.readouterr().err
    assert not (real / "config.json").exists()


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("the command did work before refusing its output folder")


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "--data", "{data}", "--steps", "1"],
        ["generate", "--model", "{model}", *GENERATE],
        ["export", "--model", "{model}", "--data", "{data}"],
        ["benchmark", "--data", "{data}"],
        ["demo", "--quick"],
    ],
    ids=lambda a: a[0],
)
def test_out_naming_a_file_is_refused(
    argv: list[str], model: Path, tiny_pills: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(DefectSynthesizer, "fit", _never)
    target = tmp_path / "a_file"
    target.write_text("mine")
    filled = [a.format(data=tiny_pills, model=model) for a in argv]
    assert cli.main([*filled, "--out", str(target)]) == 1
    assert f"{target} is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "mine"


@pytest.mark.parametrize("exists", [True, False], ids=["folder", "new-folder"])
def test_unwritable_output_is_refused_before_any_work(
    exists: bool, tiny_pills: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    def read_only(folder: Path) -> None:
        raise PermissionError(13, "Permission denied", str(folder))

    # chmod does not stop root, who runs CI here: the two checks are made to fail instead
    monkeypatch.setattr(outputs, "_probe", read_only)  # an existing folder gets a probe file
    monkeypatch.setattr(outputs.os, "access", lambda *a: False)  # a new one needs a writable parent
    monkeypatch.setattr(DefectSynthesizer, "fit", _never)
    out = tmp_path / "m"
    if exists:
        out.mkdir()
    assert cli.main(["fit", "--data", str(tiny_pills), "--out", str(out), "--steps", "1"]) == 1
    assert "cannot be written (Permission denied)" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused(tiny_pills: Path, tmp_path: Path, capsys) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert cli.main(["fit", "--data", str(tiny_pills), "--out", str(locked), "--steps", "1"]) == 1
        assert "cannot be written" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_too_little_free_space_is_refused(tmp_path: Path, monkeypatch) -> None:
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=1000))
    with pytest.raises(ValueError, match=r"has 0\.0 MiB free but needs at least 1\.0 MiB"):
        outputs.check_location(tmp_path / "out", "output folder", need_bytes=2**20)


LIMITED = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from augment import cli
    sys.exit(cli.main(sys.argv[2:]))
    """
)


def _limited(argv: list[str], limit: int) -> subprocess.CompletedProcess[str]:
    """The command line under a file-size limit of ``limit`` bytes: a full disk, as a write sees it."""
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", LIMITED, str(limit), *argv]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["fit", "generate", "export"])
def test_disk_full_is_one_line(command: str, model: Path, tiny_pills: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = {
        "fit": [
            "fit",
            "--data",
            str(tiny_pills),
            "--defect",
            "crack",
            "--steps",
            "2",
            "--checkpoint-every",
            "1",
        ],
        "generate": ["generate", "--model", str(model), *GENERATE],
        "export": ["export", "--model", str(model), "--data", str(tiny_pills), "--ratio", "0.5"],
    }[command]
    done = _limited([*argv, "--out", str(out), "--threads", "1"], limit=2000)
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"defect-synth {command}: error: could not write {out}")
    assert "file-size limit" in last
    assert "Traceback" not in done.stderr


def test_split_json_written_by_the_command_is_valid(tiny_pills: Path, tmp_path: Path) -> None:
    assert cli.main(["index", str(tiny_pills), "--save-split", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["invalid"] == []


def test_a_run_that_wrote_no_pair_does_not_block_its_seed(model: Path, tmp_path: Path, monkeypatch) -> None:
    bank = tmp_path / "bank"
    argv = ["generate", "--model", str(model), "--out", str(bank), "--n", "2", "--sample-steps", "2"]
    with monkeypatch.context() as patch:
        failing = functools.partialmethod(DefectSynthesizer.generate, max_attempts=1)
        patch.setattr(DefectSynthesizer, "generate", failing)
        assert cli.main(argv) == 1  # too few pairs: nothing written
    assert cli.main([*argv, "--no-quality-filter"]) == 0
    assert len(read_manifest(bank)) == 2
