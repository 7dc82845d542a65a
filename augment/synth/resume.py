"""A resumed fit continues the same run, or is refused naming what differs.

A fit with a checkpoint folder writes ``run.json`` there before its first step: the data (index
fingerprint, product, defect types, shot files), the backbone and every setting that changes the
weights (seed, batch size, learning rates, model window, data mix, loss and training options).
``resume=True`` compares the new fit with it and refuses any difference, so the resumed weights
and the saved ``config.json`` always describe one run. Settings that do not change the weights
may differ: the number of steps (a resumed run may go further), how often checkpoints and
validation sheets are written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from augment.data.outputs import writing
from augment.data.split import FewShotSplit
from augment.files import CHECKPOINT, RUN
from augment.models.backbone import Backbone
from augment.processes import is_main_process, process_rank, under_launcher, wait_for_everyone
from augment.synth.options import FitConfig

__all__ = ["begin_run", "check_resume", "run_identity", "start_run"]

logger = logging.getLogger(__name__)

# FitConfig fields that do not change the weights, so a resumed run may change them
FREE = ("steps", "checkpoint_every")
FREE_OPTIONS = ("validate_every", "validation_steps")


def run_identity(
    split: FewShotSplit, defects: Sequence[str], cfg: FitConfig, backbone: Backbone
) -> dict[str, Any]:
    """What a resumed fit must share with the run it continues (JSON-friendly)."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in (*FREE, "options")}
    options = {k: v for k, v in asdict(cfg.options).items() if k not in FREE_OPTIONS}
    root = split.index.root
    return {
        "data fingerprint": split.index.fingerprint(),
        "product": split.index.products[0] if split.index.products else None,
        "defects": sorted(defects),
        "shots": sorted(s.image.relative_to(root).as_posix() for s in split.shots if s.defect in defects),
        "backbone": f"{backbone.family}:{backbone.source}",
        **settings,
        **{f"options.{k}": v for k, v in options.items()},
    }


def start_run(checkpoint_dir: str | Path | None, run: dict[str, Any]) -> None:
    """A new run in ``checkpoint_dir``: an earlier run's checkpoint is removed, ``run.json`` written."""
    if checkpoint_dir is None:
        return
    folder = Path(checkpoint_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CHECKPOINT).unlink(missing_ok=True)  # never resumable under this run's description
    tmp = folder / f".{RUN}.tmp"
    with writing(folder / RUN):
        tmp.write_text(json.dumps(run, indent=2, default=str))
        tmp.replace(folder / RUN)


def _show(value: Any) -> str:
    """A value for the message: long lists are counted, not spelled out."""
    if isinstance(value, list) and len(value) > 4:
        return f"{len(value)} items [{value[0]!r}, ...]"
    return repr(value)


def _same(a: Any, b: Any) -> bool:
    return json.loads(json.dumps(a, default=str)) == json.loads(json.dumps(b, default=str))


def check_resume(checkpoint_dir: str | Path | None, run: dict[str, Any]) -> None:
    """Refuse ``resume=True`` when this fit is not the run whose checkpoint is in ``checkpoint_dir``."""
    path = Path(checkpoint_dir) / RUN if checkpoint_dir is not None else None
    if path is None or not path.is_file():
        if path is not None and (path.parent / CHECKPOINT).is_file():
            logger.warning(
                "%s has no %s (written by an older version): the run cannot be checked", path.parent, RUN
            )
        return
    earlier = json.loads(path.read_text())
    differ = [
        f"{key} {_show(run.get(key))} (checkpoint: {_show(earlier.get(key))})"
        for key in sorted(set(run) | set(earlier))
        if not _same(run.get(key), earlier.get(key))
    ]
    if differ:
        raise ValueError(
            f"resume=True continues the run in {path.parent}, but this fit differs from it: "
            f"{'; '.join(differ)}. Fit again with the checkpoint's data and settings, or drop resume "
            "to start a new run (in another output folder to keep this one)."
        )


def begin_run(checkpoint_dir: str | Path | None, run: dict[str, Any], resume: bool) -> None:
    """``check_resume`` a resumed fit, else ``start_run`` a new one; under ``accelerate launch`` the
    run names its number of processes (each draws its own batches) and the first one writes."""
    if under_launcher():
        run["processes"] = process_rank()[1]
    if resume:
        check_resume(checkpoint_dir, run)
    elif is_main_process():
        start_run(checkpoint_dir, run)
    wait_for_everyone()
