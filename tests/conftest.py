"""Shared test setup: offline, quiet, seeded, tiny data built on the fly (never ../shared)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["NO_ALBUMENTATIONS_UPDATE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # also what the command line's thread choice reads

from pathlib import Path

import pytest
import torch

from augment.data.demo_data import make_demo_dataset

torch.set_flush_denormal(True)
# One thread: on 2 shared cores, 2 torch threads ran tiny models up to 10x slower (contention).
torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_pills(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64 px pill dataset in the MVTec layout: 12 good train, 6 good test, 6 per defect type."""
    out = tmp_path_factory.mktemp("pills")
    return make_demo_dataset(
        out, n_good_train=12, n_good_test=6, n_per_defect=6, size=64, seed=3, progress=False
    )
