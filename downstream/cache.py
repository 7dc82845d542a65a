"""Finished benchmark jobs kept on disk, so an interrupted or extended benchmark redoes nothing.

Each job's result is written as soon as it finishes, under a key made of everything that changes
its numbers: the settings (not the arms, the number of seeds, workers or bootstrap size, nor
``--ratio``: a job's own ratio is in its key, so ``--ratio auto`` after ``--ratio 2`` reuses the
real runs and the ratio-2 runs), the
split, the synthetic source when the job's arm uses it, the job (arm, seed, ratio), a hash of the
library's source code and the versions of the packages that train the detector. Running the benchmark again into the
same folder with one more arm trains only that arm's jobs; a changed setting, split, synthetic
source, library code or dependency version makes new keys, so a stale result is not reused.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pickle
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import augment
import downstream
from downstream.arms import pair_source
from downstream.config import BenchmarkConfig
from downstream.jobs import Job, JobResult

logger = logging.getLogger(__name__)

CACHE_FORMAT = 3  # 2: the ratio settings left out of the key (RATIO_SETTINGS); 3: no first seed
# Settings that do not change a job's numbers (which jobs run, how they are spread, the report); a
# saved synthesizer paints each seed's pairs with that seed, which the job's key holds.
NOT_IN_KEY = frozenset({"arms", "workers", "progress", "n_boot", "seeds"})
# The ratio settings choose which jobs run; a job's own ratio (in its key) sets its extra pairs. Only a
# saved synthesizer's pool depends on them (painted per seed for the largest ratio): its jobs key that.
RATIO_SETTINGS = frozenset({"synthetic_ratio", "ratio_grid"})


# Installed packages whose version can change a trained detector's numbers.
DEPENDENCIES = (
    "torch",
    "segmentation-models-pytorch",
    "timm",
    "albumentations",
    "numpy",
    "opencv-python-headless",
)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@functools.cache
def code_fingerprint() -> str:
    """A hash of the library's own source (``augment`` and ``downstream``): the version number does
    not change with every edit, and any edit may change how a job trains or what an arm pastes."""
    digest = hashlib.sha256()
    for package in (augment, downstream):
        root = Path(str(package.__file__)).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def job_key(
    config: BenchmarkConfig, split: Mapping[str, Any], synthetic: Mapping[str, str] | None, job: Job
) -> str:
    """A hex digest of everything that changes ``job``'s result."""
    settings = {k: v for k, v in config.to_dict().items() if k not in NOT_IN_KEY | RATIO_SETTINGS}
    uses = synthetic if pair_source(job.arm) == "synthetic" else None
    material = {
        "format": CACHE_FORMAT,
        "code": code_fingerprint(),
        "versions": {name: _version(name) for name in DEPENDENCIES},
        "settings": settings,
        "split": split,
        "synthetic": uses,
        "pool_ratio": max(config.ratios) if uses and uses.get("kind") == "synthesizer" else None,
        "job": [job.arm, job.seed, job.ratio],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


class JobCache:
    """``get``/``put`` finished jobs in ``root``: one pickle per job, written atomically."""

    def __init__(
        self,
        root: str | Path,
        config: BenchmarkConfig,
        split: Mapping[str, Any],
        synthetic: Mapping[str, str] | None,
    ) -> None:
        self.root = Path(root)
        self.config, self.split, self.synthetic = config, split, synthetic

    def path(self, job: Job) -> Path:
        key = job_key(self.config, self.split, self.synthetic, job)
        ratio = "none" if job.ratio is None else f"{job.ratio:g}"
        return self.root / f"{job.arm}-seed{job.seed}-ratio{ratio}-{key[:16]}.pkl"

    def get(self, job: Job) -> JobResult | None:
        """The stored result of ``job``, or None (absent or unreadable: it is trained again)."""
        path = self.path(job)
        if not path.is_file():
            return None
        try:
            with path.open("rb") as f:
                result = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as err:
            logger.warning("ignoring unreadable cached job %s (%s); training it again", path, err)
            return None
        return result if isinstance(result, JobResult) and result.job == job else None

    def put(self, result: JobResult) -> None:
        path = self.path(result.job)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)


__all__ = ["CACHE_FORMAT", "JobCache", "code_fingerprint", "job_key"]
