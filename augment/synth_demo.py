"""The demo's fit and generate steps: one embedded-default synthesizer for every demo defect type.

``fit`` trains on the split's shots (all three defect types share one model, one token each) and
saves it under ``out/model``; ``generate`` paints a few pairs per type into held-in defect-free
images, writes them as a bank under ``out/bank`` (which later steps evaluate) and a contact sheet
``out/generated.png`` (source | generated | mask outline).
"""

from __future__ import annotations

import time
from typing import Any

from augment.files import CHECKPOINTS

# torch and the models load inside the steps, so 'defect-synth --help' stays fast.

# Budgets: full demo (under 10 minutes on 2 CPU cores) and --quick smoke test (about a minute).
FULL = {"steps": 450, "n": 4, "sample_steps": 20, "filter": True}
QUICK = {"steps": 20, "n": 1, "sample_steps": 6, "filter": False}


def _budget(state: Any) -> dict[str, Any]:
    return QUICK if state.quick else FULL


def step_fit(state: Any) -> None:
    """Fit the embedded default on the demo shots and save it to ``out/model``."""
    import numpy as np
    import torch

    from augment.synth.synthesizer import DefectSynthesizer

    torch.set_flush_denormal(True)
    budget = _budget(state)
    synth = DefectSynthesizer(seed=state.seed)
    t0 = time.perf_counter()
    losses = synth.fit(
        state.split,
        steps=budget["steps"],
        seed=state.seed,
        checkpoint_dir=state.out / "model" / CHECKPOINTS,
        checkpoint_every=150,
    )
    seconds = time.perf_counter() - t0
    synth.save_pretrained(state.out / "model")
    state.summary["fit"] = {
        "model": str(state.out / "model"),
        "defects": synth.defects,
        "steps": budget["steps"],
        "seconds": round(seconds, 1),
        "seconds_per_defect_type": round(seconds / max(1, len(synth.defects)), 1),
        "final_loss": round(float(np.mean(losses[-20:])), 4),
    }


def step_generate(state: Any) -> None:
    """Generate a few pairs per defect type into ``out/bank`` and draw ``out/generated.png``."""
    import numpy as np

    from augment.data.imageio import read_image
    from augment.data.pairs import write_pair
    from augment.data.sheets import save_contact_sheet, sheet_tiles
    from augment.synth.synthesizer import DefectSynthesizer

    budget = _budget(state)
    synth = DefectSynthesizer.from_pretrained(state.summary["fit"]["model"])
    bank = state.out / "bank"
    rng = np.random.default_rng(state.seed)
    pairs, report = [], {}
    t0 = time.perf_counter()
    for defect in synth.defects:
        made = synth.generate(
            budget["n"],
            defect=defect,
            steps=budget["sample_steps"],
            generator=rng,
            quality_filter=budget["filter"],
        )
        for k, pair in enumerate(made):
            write_pair(bank, pair, f"synth_{defect}_{k:03d}", synth.product or "product", defect)
        report[defect] = synth.last_report
        pairs += made
    seconds = time.perf_counter() - t0
    sources = {p.record["source_image"]: read_image(p.record["source_image"]) for p in pairs}
    sheet = save_contact_sheet(state.out / "generated.png", sheet_tiles(pairs, sources), columns=6)
    state.summary["bank"] = str(bank)
    state.summary["generate"] = {
        "pairs": len(pairs),
        "seconds": round(seconds, 1),
        "quality_filter": report,
        "contact_sheet": str(sheet),
    }
