"""The demo's evaluate step, with the fake extractor in place of the Inception."""

from __future__ import annotations

from pathlib import Path

import pytest

from augment.cli import demo_steps
from augment.cli.demo_steps import DemoState
from augment.data.index import index_folder, load_sample_arrays
from augment.data.pairs import SyntheticPair, write_pair
from augment.data.split import make_split
from tests.eval_fakes import _DummyFeatureExtractor


@pytest.fixture
def state(tiny_pills: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DemoState:
    monkeypatch.setattr(demo_steps, "EXTRACTOR_FACTORY", _DummyFeatureExtractor)
    index = index_folder(tiny_pills)
    return DemoState(
        out=tmp_path, seed=0, quick=True, data_root=tiny_pills, index=index, split=make_split(index)
    )


def test_without_a_bank_the_shots_are_compared(state: DemoState):
    demo_steps.step_evaluate(state)
    result = state.summary["evaluate"]
    assert result["fake"] == "real shots"
    assert (result["n_real"], result["n_fake"]) == (len(state.split.test_defects), 6)
    assert Path(result["report"]).read_text().startswith("# Demo: generation metrics")


def test_a_bank_in_the_summary_is_used(state: DemoState, tmp_path: Path):
    demo_steps.step_evaluate(state)
    shots_fid = state.summary["evaluate"]["fid"]
    for i, s in enumerate(state.split.shots):
        write_pair(tmp_path / "bank", SyntheticPair(*load_sample_arrays(s)), f"{i}", "pill", s.defect)
    state.summary["bank"] = {"root": str(tmp_path / "bank")}
    demo_steps.step_evaluate(state)
    assert state.summary["evaluate"]["fake"] == "bank"
    # the bank holds the shots' pixels, so it scores like the shots themselves
    assert state.summary["evaluate"]["fid"] == pytest.approx(shots_fid, rel=1e-6)


def test_the_step_needs_a_split(state: DemoState):
    state.split = None
    with pytest.raises(ValueError, match="needs the split"):
        demo_steps.step_evaluate(state)
