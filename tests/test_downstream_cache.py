"""The job cache: a rerun into the same folder trains only what is missing, and never reuses a stale job."""

from __future__ import annotations

from pathlib import Path

import pytest

import downstream.cache
import downstream.jobs
from augment.data.index import index_folder
from augment.data.split import make_split
from downstream.config import BenchmarkConfig
from downstream.protocol import run_benchmark
from tests.test_downstream_protocol import TINY


def _config(**kwargs: object) -> BenchmarkConfig:
    settings = {"arms": ("real",), "seeds": (0,), "steps": 2, "eval_every": 2, **TINY} | kwargs
    return BenchmarkConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The (arm, seed) of every job actually trained."""
    calls: list[tuple[str, int]] = []
    real_run_job = downstream.jobs.run_job

    def counting(ctx, job):  # type: ignore[no-untyped-def]
        calls.append((job.arm, job.seed))
        return real_run_job(ctx, job)

    monkeypatch.setattr(downstream.jobs, "run_job", counting)
    return calls


def _metrics(result: dict) -> list:
    return [(r["arm"], r["seed"], r["metrics"]["all"]) for r in result["runs"]]


def test_a_rerun_trains_nothing_and_gives_the_same_numbers(
    tiny_pills: Path, tmp_path: Path, trained: list[tuple[str, int]]
) -> None:
    split = make_split(index_folder(tiny_pills))
    first = run_benchmark(split, _config(), cache=tmp_path)
    second = run_benchmark(split, _config(), cache=tmp_path)
    assert trained == [("real", 0)]
    assert _metrics(first) == _metrics(second)


def test_an_added_arm_trains_only_its_own_jobs(
    tiny_pills: Path, tmp_path: Path, trained: list[tuple[str, int]]
) -> None:
    split = make_split(index_folder(tiny_pills))
    run_benchmark(split, _config(), cache=tmp_path)
    run_benchmark(split, _config(arms=("real", "copy-paste")), cache=tmp_path)
    assert trained == [("real", 0), ("copy-paste", 0)]


def test_more_seeds_train_only_the_new_ones(
    tiny_pills: Path, tmp_path: Path, trained: list[tuple[str, int]]
) -> None:
    split = make_split(index_folder(tiny_pills))
    run_benchmark(split, _config(), cache=tmp_path)
    run_benchmark(split, _config(seeds=(0, 1)), cache=tmp_path)
    assert trained == [("real", 0), ("real", 1)]


def test_ratio_auto_after_a_fixed_ratio_trains_only_the_other_ratios(
    tiny_pills: Path, tmp_path: Path, trained: list[tuple[str, int]]
) -> None:
    split = make_split(index_folder(tiny_pills))
    arms = ("real", "copy-paste")
    run_benchmark(split, _config(arms=arms, synthetic_ratio=2.0), cache=tmp_path)
    trained.clear()
    run_benchmark(split, _config(arms=arms, synthetic_ratio="auto", ratio_grid=(1.0, 2.0)), cache=tmp_path)
    assert trained == [("copy-paste", 0)]


def test_a_synthesizer_pool_painted_for_a_larger_ratio_is_another_job() -> None:
    synthesizer = {"kind": "synthesizer", "path": "m", "fingerprint": "f"}
    job = downstream.jobs.Job("synthetic", 0, 2.0)
    fixed, auto = _config(synthetic_ratio=2.0), _config(synthetic_ratio="auto", ratio_grid=(2.0, 4.0))
    assert downstream.cache.job_key(fixed, {}, synthesizer, job) != downstream.cache.job_key(
        auto, {}, synthesizer, job
    )
    bank = synthesizer | {"kind": "bank"}
    assert downstream.cache.job_key(fixed, {}, bank, job) == downstream.cache.job_key(auto, {}, bank, job)


@pytest.mark.parametrize("change", [{"steps": 4, "eval_every": 2}, {"seeds": (1,)}])
def test_a_changed_setting_is_trained_again(
    tiny_pills: Path, tmp_path: Path, trained: list[tuple[str, int]], change: dict[str, object]
) -> None:
    split = make_split(index_folder(tiny_pills))
    run_benchmark(split, _config(), cache=tmp_path)
    run_benchmark(split, _config(**change), cache=tmp_path)
    assert len(trained) == 2


def test_an_unreadable_cached_job_is_trained_again(
    tiny_pills: Path, tmp_path: Path, trained: list[tuple[str, int]]
) -> None:
    split = make_split(index_folder(tiny_pills))
    run_benchmark(split, _config(), cache=tmp_path)
    for path in tmp_path.glob("*.pkl"):
        path.write_bytes(b"truncated")
    run_benchmark(split, _config(), cache=tmp_path)
    assert trained == [("real", 0), ("real", 0)]


def test_a_code_change_is_trained_again(
    tiny_pills: Path, tmp_path: Path, trained: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    split = make_split(index_folder(tiny_pills))
    run_benchmark(split, _config(), cache=tmp_path)
    monkeypatch.setattr(downstream.cache, "code_fingerprint", lambda: "edited")
    run_benchmark(split, _config(), cache=tmp_path)
    assert trained == [("real", 0), ("real", 0)]
