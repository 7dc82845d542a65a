"""The CPU thread count: given, from OMP_NUM_THREADS, or chosen from the cores free now."""

from __future__ import annotations

import argparse

import pytest
import torch

from augment import cli, threads

COMPUTING = ("demo", "fit", "generate", "export", "benchmark", "evaluate")


@pytest.fixture(autouse=True)
def _one_thread_after() -> None:
    yield
    torch.set_num_threads(1)  # the suite's setting (conftest)


def test_a_given_count_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads.choose_threads(3) == 3


def test_omp_num_threads_is_the_users_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.choose_threads() == 2


@pytest.mark.parametrize("free", [0.2, 0.9, 1.6, 2.0, 40.0])
def test_chosen_from_free_cores(monkeypatch: pytest.MonkeyPatch, free: float) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "free_cores", lambda: free)
    assert threads.choose_threads() == max(1, min(threads.MAX_AUTO_THREADS, int(free)))


def test_free_cores_is_measured_within_the_usable_ones() -> None:
    assert 0.0 <= threads.free_cores(0.05) <= threads.usable_cores()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_counts_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        threads.choose_threads(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", COMPUTING)
def test_every_computing_command_takes_threads(command: str) -> None:
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "--threads" in sub.choices[command]._option_string_actions


def test_the_command_line_applies_it(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    seen = []
    monkeypatch.setattr(cli.evaluate, "run", lambda args: seen.append(torch.get_num_threads()) or 0)
    argv = ["evaluate", "--real", str(tmp_path), "--fake", str(tmp_path), "--out", str(tmp_path / "r")]
    assert cli.main([*argv, "--threads", "2"]) == 0
    assert seen == [2]
