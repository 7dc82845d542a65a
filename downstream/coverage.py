"""Whether the synthetic arm's seeds draw apart: one stored bank is one draw of its generator.

A stored bank holds a fixed set of pairs (a saved synthesizer, by contrast, paints each seed's
pairs anew: ``downstream.jobs.ArmData``). When the seeds together ask for more pairs of a type than
the bank holds, they train on overlapping pairs, and the benchmark's interval (over seeds × test images) covers the draw of
pairs *from this bank* but not the draw of the bank from its generator: a second bank of the same
model can land elsewhere (the README's demo runs: +0.052 and +0.021 test pixel AP over real-only
for two banks of one model). Such a result says something about the bank, not the generator; the
report says so and how many pairs per type would let every seed draw its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["coverage", "coverage_note"]


def coverage(
    in_bank: Mapping[str, int], per_seed: Mapping[str, int], seeds: int
) -> dict[str, dict[str, Any]]:
    """Per defect type: pairs held, pairs each seed draws, and whether the seeds must share pairs.

    ``shared`` is true when ``seeds × per_seed`` exceeds what the bank holds of that type;
    ``needed`` is the bank size at which every seed could draw pairs of its own.
    """
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}.")
    out = {}
    for defect, n in sorted(per_seed.items()):
        held = int(in_bank.get(defect, 0))
        needed = int(n) * seeds
        out[defect] = {
            "in_bank": held,
            "per_seed": int(n),
            "seeds": seeds,
            "needed": needed,
            "shared": held < needed,
        }
    return out


def coverage_note(cover: Mapping[str, Mapping[str, Any]]) -> str | None:
    """One sentence for the report when the seeds share pairs; None when every seed draws its own."""
    shared = {d: c for d, c in cover.items() if c["shared"]}
    if not shared:
        return None
    held = ", ".join(
        f"{c['in_bank']} `{d}` pairs for {c['seeds']} seeds × {c['per_seed']}" for d, c in shared.items()
    )
    most = max(c["needed"] for c in shared.values())
    return (
        f"The synthetic source holds {held}: the seeds train on overlapping pairs, so the interval "
        "covers this bank's pairs, not its generator's (a second bank of the same model may differ). "
        f"For a claim about the generator, generate at least {most} pairs per type "
        "(`defect-synth generate --n N`)."
    )
