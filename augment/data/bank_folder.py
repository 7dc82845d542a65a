"""Opening a bank folder for new pairs: never over earlier pairs, never into another's data.

``defect-synth generate`` (and the demo) write pairs only into an empty folder, or, with
``append=True``, into a bank they wrote before. Appended pairs get names no earlier pair has, so no
file is overwritten and no manifest record is duplicated; a run with the seed and model of pairs
already in the bank (each record keeps its run's seed as ``run_seed``) is refused, since it would
repeat them. The bank's state file (``.defect-synth-bank.json``) marks the folder as a bank and
lists its runs; a bank written before the state file existed is recognised by every file in it
being listed in its manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from augment.data.outputs import check_location, refuse_foreign, writing
from augment.data.pairs import read_manifest
from augment.errors import OutputError
from augment.files import BANK_STATE, CONTACT_SHEET, MANIFEST

__all__ = ["is_own_bank", "open_bank"]

WHAT = "bank folder"


def _listed(root: Path) -> set[Path]:
    files = {root / MANIFEST, root / CONTACT_SHEET}
    for record in read_manifest(root):
        files |= {root / record["image"], root / record["mask"]}
    return files


def is_own_bank(root: Path) -> bool:
    """Whether ``root`` is a bank generate wrote: its state file, or (older banks) a manifest that
    lists every file in the folder."""
    if (root / BANK_STATE).is_file():
        return True
    if not (root / MANIFEST).is_file():
        return False
    listed = _listed(root)
    return all(p in listed or p.name.endswith(".tmp") for p in root.rglob("*") if p.is_file())


def _runs(root: Path) -> list[dict[str, Any]]:
    state = root / BANK_STATE
    return list(json.loads(state.read_text()).get("runs", [])) if state.is_file() else []


def _repeats(record: dict[str, Any], run: dict[str, Any]) -> bool:
    return record.get("run_seed") == run.get("seed") and record.get("model_fingerprint") == run.get("model")


def open_bank(out: str | Path, run: dict[str, Any], append: bool = False, need_bytes: int = 0) -> set[str]:
    """Check the bank folder ``out`` before any work and record ``run`` (its ``seed`` and ``model``
    fingerprint at least); returns the pair names already taken there.

    Refused (`OutputError`): a folder holding anything but a bank generate wrote; a bank holding
    pairs without ``append=True``; with it, a run whose seed and model made pairs already there.
    The pairs written must carry ``run_seed`` (the run's seed) in their records.
    """
    path = Path(out).expanduser().absolute()
    earlier = refuse_foreign(path, WHAT, is_own_bank, "Choose an empty or new folder for the bank.")
    path = check_location(path, WHAT, need_bytes)
    path.mkdir(parents=True, exist_ok=True)
    runs = _runs(path) if earlier else []
    records = read_manifest(path) if (path / MANIFEST).is_file() else []
    if records and not append:
        raise OutputError(
            f"{WHAT} {path} already holds a bank of {len(records)} pairs from an earlier run; pass "
            "append=True to add new pairs under new names, or choose an empty folder."
        )
    if any(_repeats(r, run) for r in records):
        raise OutputError(
            f"{WHAT} {path} already holds pairs of seed {run.get('seed')} with this model; appending "
            "them again would repeat them. Pass another seed."
        )
    tmp = path / f".{BANK_STATE}.tmp"
    with writing(path / BANK_STATE):
        tmp.write_text(json.dumps({"runs": [*runs, run]}, indent=2))
        tmp.replace(path / BANK_STATE)
    return {str(r["name"]) for r in records}
