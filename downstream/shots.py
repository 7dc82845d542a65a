"""The shots sweep: the same protocol at several numbers of real shots, on the same validation and test images.

``--shots 1,3,5,third`` runs the benchmark with 1, 3 and 5 shots per defect type and with the
first-third protocol. So that the settings differ only in their shots, one base split is made
(the first-third split when ``third`` is asked for, else K = the largest number asked) and every
other setting keeps its validation, test and defect-free images and draws K of its shots per
defect type with the split's seed (shots left out are not used at all, never moved to test).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from augment.data.index import DatasetIndex, Sample
from augment.data.split import FewShotSplit, make_split

__all__ = ["THIRD", "Setting", "base_split", "fewer_shots", "parse_shots", "sweep_splits"]

THIRD = "third"  # the first-third protocol
Setting = int | None  # K shots per defect type, or None for the first third


def parse_shots(text: str | None) -> list[Setting]:
    """``"1,3,5,third"`` -> ``[1, 3, 5, None]`` (None: the first third); ``None`` or ``""`` -> ``[None]``."""
    if not text:
        return [None]
    out: list[Setting] = []
    for part in (p.strip().lower() for p in str(text).split(",")):
        if part in (THIRD, "first-third"):
            out.append(None)
        elif part.isdigit() and int(part) >= 1:
            out.append(int(part))
        else:
            raise ValueError(
                f"shots must be a comma-separated list of positive integers and/or '{THIRD}' "
                f"(the first third), e.g. 1,3,5,{THIRD}; got {part!r} in {text!r}."
            )
    if len(set(out)) != len(out):
        raise ValueError(f"shots lists a setting twice: {text!r}.")
    return out


def label(setting: Setting) -> str:
    return "first third" if setting is None else f"{setting} shot{'s' if setting > 1 else ''}"


def base_split(index: DatasetIndex, settings: list[Setting], seed: int = 0) -> FewShotSplit:
    """The split every setting shares its validation and test images with."""
    return make_split(
        index, shots=None if None in settings else max(s for s in settings if s is not None), seed=seed
    )


def fewer_shots(split: FewShotSplit, k: int, seed: int) -> FewShotSplit:
    """``split`` with ``k`` of its shots per (product, defect type), drawn with ``seed``; all else unchanged."""
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in split.shots:
        groups[(s.product, s.defect)].append(s)
    short = {f"{p}/{d}": len(rows) for (p, d), rows in groups.items() if len(rows) < k}
    if short:
        raise ValueError(
            f"{k} shots asked, but the base split ({split.protocol}) has fewer for {short}; "
            f"ask for at most {min(short.values())} shots or drop '{THIRD}' from the list."
        )
    rng = np.random.default_rng([seed, 2])
    kept: list[Sample] = []
    for key in sorted(groups):
        rows = sorted(groups[key], key=lambda s: s.image.name)
        kept += [rows[i] for i in sorted(rng.choice(len(rows), size=k, replace=False).tolist())]
    return replace(split, shots=kept, protocol=f"{split.protocol}, {k} of its shots per type")


def has_shots(split: FewShotSplit, k: int) -> bool:
    """True when ``split`` holds exactly ``k`` shots of every (product, defect type)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for s in split.shots:
        counts[(s.product, s.defect)] += 1
    return set(counts.values()) == {k}


def sweep_splits(base: FewShotSplit, settings: list[Setting]) -> list[tuple[Setting, FewShotSplit]]:
    """Each setting's split, in the order asked: the base itself where it already has the setting's
    shots (a saved ``--split`` of the first third asked for 1 shot draws one, it is not taken as is)."""
    return [
        (s, base if s is None or has_shots(base, s) else fewer_shots(base, s, base.seed)) for s in settings
    ]
