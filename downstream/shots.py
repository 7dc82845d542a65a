"""The shots sweep: the same protocol at several numbers of real shots, on the same validation and test images.

``--shots 1,3,5,third`` runs the benchmark with 1, 3 and 5 shots per defect type and with the
first-third protocol. So that the settings differ only in their shots, one base split is made
(the first-third split when ``third`` is asked for, else K = the largest number asked) and every
other setting keeps its validation, test and defect-free images and draws K of its shots per
defect type with the split's seed (shots left out are not used at all, never moved to test).

With one to a few shots the choice of shots moves the detector as much as the arms do, and every
seed of a setting trains on the same draw. ``draws=N`` repeats each K-shot setting with N draws
of its K shots (draw 0 is the one above), so a gain can be read for other shots too.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from augment.data.index import DatasetIndex, Sample
from augment.data.split import FewShotSplit, make_split

__all__ = ["THIRD", "Setting", "SweepSplit", "base_split", "fewer_shots", "parse_shots", "sweep_splits"]

logger = logging.getLogger(__name__)

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


def label(setting: Setting, draw: int = 0) -> str:
    text = "first third" if setting is None else f"{setting} shot{'s' if setting > 1 else ''}"
    return text if draw == 0 else f"{text}, draw {draw}"


def base_split(index: DatasetIndex, settings: list[Setting], seed: int = 0, draws: int = 1) -> FewShotSplit:
    """The split every setting shares its validation and test images with: the first third when it
    is asked for or when the shots are drawn more than once (so the largest K has shots to draw
    from), else a K-shot split for the largest K."""
    whole = None in settings or draws > 1
    return make_split(index, shots=None if whole else max(s for s in settings if s is not None), seed=seed)


def _shot_groups(split: FewShotSplit) -> dict[tuple[str, str], list[Sample]]:
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in split.shots:
        groups[(s.product, s.defect)].append(s)
    return groups


def fewer_shots(split: FewShotSplit, k: int, seed: int, draw: int = 0) -> FewShotSplit:
    """``split`` with ``k`` of its shots per (product, defect type), drawn with ``seed`` (and, past
    the first, the ``draw`` number); all else unchanged."""
    groups = _shot_groups(split)
    short = {f"{p}/{d}": len(rows) for (p, d), rows in groups.items() if len(rows) < k}
    if short:
        raise ValueError(
            f"{k} shots asked, but the base split ({split.protocol}) has fewer for {short}; "
            f"ask for at most {min(short.values())} shots or drop '{THIRD}' from the list."
        )
    rng = np.random.default_rng([seed, 2] if draw == 0 else [seed, 2, draw])
    kept: list[Sample] = []
    for key in sorted(groups):
        rows = sorted(groups[key], key=lambda s: s.image.name)
        kept += [rows[i] for i in sorted(rng.choice(len(rows), size=k, replace=False).tolist())]
    which = "" if draw == 0 else f" (draw {draw})"
    return replace(split, shots=kept, protocol=f"{split.protocol}, {k} of its shots per type{which}")


def has_shots(split: FewShotSplit, k: int) -> bool:
    """True when ``split`` holds exactly ``k`` shots of every (product, defect type)."""
    return {len(rows) for rows in _shot_groups(split).values()} == {k}


class SweepSplit(NamedTuple):
    setting: Setting
    draw: int  # 0: the setting's first draw of shots (the only one of the base split itself)
    split: FewShotSplit


def sweep_splits(base: FewShotSplit, settings: list[Setting], draws: int = 1) -> list[SweepSplit]:
    """Each setting's split, in the order asked, with ``draws`` draws of its shots: the base itself
    (one draw) where it already has the setting's shots (a saved ``--split`` of the first third asked
    for 1 shot draws one, it is not taken as is)."""
    if not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive integer (draws of shots per setting), got {draws!r}.")
    out = []
    for s in settings:
        if s is None or has_shots(base, s):
            out.append(SweepSplit(s, 0, base))
            continue
        drawn: list[list[Sample]] = []
        for d in range(draws):
            split = fewer_shots(base, s, base.seed, d)
            if split.shots not in drawn:  # a few shots have few distinct draws: each is run once
                drawn.append(split.shots)
                out.append(SweepSplit(s, d, split))
        if len(drawn) < draws:
            logger.info("%s: only %d distinct draw(s) of the base split's shots", label(s), len(drawn))
    return out
