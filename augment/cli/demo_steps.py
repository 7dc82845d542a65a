"""The steps of ``defect-synth demo``, in the order they run, and the state they pass along.

1. data: render the pill dataset (``augment.data.demo_data``); 2. index it and make the few-shot
split; 3. a contact sheet of the shots; 4. fit one embedded-default synthesizer for every defect
type (one token each), saved under ``out/model``; 5. generate a few pairs per type into held-in
defect-free images, written as a bank under ``out/bank`` with ``out/generated.png``; 6. evaluate
held-out real defects against that bank (or, without one, against the real shots: the real-vs-real
reference); 7. a small downstream benchmark (real vs synthetic vs copy-paste). The budgets are
``FULL`` (under 10 minutes on 2 CPU cores) or, with ``--quick``, a smoke test of about a minute; the
benchmark's numbers show that the pipeline runs end to end, not whether synthetic data helps.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augment.cli.generate import generate_bank, write_generated_sheet
from augment.data.bank_folder import is_own_bank
from augment.data.demo_data import make_demo_dataset
from augment.data.index import DatasetIndex, index_folder, load_sample_arrays
from augment.data.sheets import Tile, save_contact_sheet
from augment.data.split import FewShotSplit, make_split
from augment.files import CHECKPOINTS, CONTACT_SHEET, MANIFEST, SPLIT
from augment.synth.precision import precision_name
from augment.synth.synthesizer import DefectSynthesizer
from downstream.protocol import BenchmarkConfig, run_benchmark
from downstream.report import summarise
from downstream.report import write_report as write_benchmark_report
from eval.cache import FeatureCache
from eval.compare import EvalConfig, evaluate
from eval.features import load_inception
from eval.report import write_report as write_eval_report
from eval.sources import image_set_from_samples, load_image_set

__all__ = [
    "DemoState",
    "step_benchmark",
    "step_contact_sheet",
    "step_data",
    "step_evaluate",
    "step_fit",
    "step_generate",
    "step_index",
]

# Budgets of the synthesizer steps and of the benchmark: full demo and --quick smoke test. The full
# bank holds 12 pairs per type: each of the benchmark's 2 seeds draws its own 6 (2 per shot, like
# copy-paste), so the synthetic arm trains on as many pairs as copy-paste (downstream.coverage).
SYNTH_FULL = {"steps": 450, "n": 12, "sample_steps": 20, "filter": True}
SYNTH_QUICK = {"steps": 20, "n": 1, "sample_steps": 6, "filter": False}
# The demo's benchmark is a small run (2 seeds, a short budget) that shows the report; a claim
# needs `defect-synth benchmark` with >= 5 seeds at the documented budget (README).
BENCH_FULL = {"steps": 150, "resolution": 128, "eval_every": 50, "seeds": 2}
BENCH_QUICK = {"steps": 15, "resolution": 64, "eval_every": 5, "seeds": 2}
# Replaced in tests by a tiny fake, so that they never load the 87 MB Inception.
EXTRACTOR_FACTORY = load_inception
DEMO_METRICS = ("fid", "kid", "prc", "is", "masks")


@dataclass
class DemoState:
    """What the steps pass along; ``summary`` ends up in summary.json."""

    out: Path
    seed: int
    quick: bool
    data_root: Path | None = None
    index: DatasetIndex | None = None
    split: FewShotSplit | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def _split(state: DemoState, step: str) -> FewShotSplit:
    if state.split is None:
        raise ValueError(f"the {step} step needs the split: run the 'index and split' step first.")
    return state.split


def step_data(state: DemoState) -> None:
    """Render the demo pills under ``out/data`` (fewer images with ``--quick``)."""
    out = state.out / "data"
    if state.quick:
        state.data_root = make_demo_dataset(
            out, n_good_train=60, n_good_test=20, n_per_defect=6, seed=state.seed
        )
    else:
        state.data_root = make_demo_dataset(out, seed=state.seed)
    state.summary["data"] = str(state.data_root)


def step_index(state: DemoState) -> None:
    """Index the dataset and save its first-third few-shot split."""
    if state.data_root is None:
        raise ValueError("the index step needs the data: run the 'build demo dataset' step first.")
    state.index = index_folder(state.data_root)
    state.split = make_split(state.index, seed=state.seed)
    state.split.save(state.out / SPLIT)
    state.summary["index"] = {k: v for k, v in state.index.summary().items() if k != "skipped"}
    state.summary["split"] = state.split.summary()


def step_contact_sheet(state: DemoState) -> None:
    """The shots with their masks outlined, and three defect-free images."""
    split = _split(state, "contact sheet")
    tiles: list[Tile] = []
    for defect, rows in sorted(split.shots_by_defect().items()):
        for row in rows:
            image, mask = load_sample_arrays(row)
            tiles.append((image, mask, f"shot: {defect}"))
    for row in split.good_train[:3]:
        image, _ = load_sample_arrays(row)
        tiles.append((image, None, "good"))
    state.summary["contact_sheet"] = str(save_contact_sheet(state.out / CONTACT_SHEET, tiles))


def step_fit(state: DemoState) -> None:
    """Fit the embedded default on the demo shots and save it to ``out/model``."""
    torch.set_flush_denormal(True)
    budget = SYNTH_QUICK if state.quick else SYNTH_FULL
    synth = DefectSynthesizer(seed=state.seed)
    t0 = time.perf_counter()
    losses = synth.fit(
        _split(state, "fit"),
        steps=budget["steps"],
        seed=state.seed,
        checkpoint_dir=state.out / "model" / CHECKPOINTS,
        checkpoint_every=150,
        dtype="auto",
    )
    seconds = time.perf_counter() - t0
    synth.save_pretrained(state.out / "model")
    state.summary["fit"] = {
        "model": str(state.out / "model"),
        "defects": synth.defects,
        "steps": budget["steps"],
        "precision": precision_name("auto", "no", synth.backbone.device),
        "seconds": round(seconds, 1),
        "seconds_per_defect_type": round(seconds / max(1, len(synth.defects)), 1),
        "final_loss": round(float(np.mean(losses[-20:])), 4),
    }


def step_generate(state: DemoState) -> None:
    """Generate a few pairs per defect type into ``out/bank`` and draw ``out/generated.png``."""
    budget = SYNTH_QUICK if state.quick else SYNTH_FULL
    synth = DefectSynthesizer.from_pretrained(state.summary["fit"]["model"])
    bank = state.out / "bank"
    if bank.is_dir() and is_own_bank(bank):  # an earlier demo's bank in this demo folder: replaced
        shutil.rmtree(bank)
    t0 = time.perf_counter()
    pairs, report = generate_bank(
        synth,
        bank,
        synth.defects,
        budget["n"],
        state.seed,
        steps=budget["sample_steps"],
        quality_filter=budget["filter"],
    )
    seconds = time.perf_counter() - t0
    sheet = write_generated_sheet(state.out / "generated.png", pairs)
    state.summary["bank"] = str(bank)
    state.summary["generate"] = {
        "pairs": len(pairs),
        "seconds": round(seconds, 1),
        "quality_filter": report,
        "contact_sheet": str(sheet),
    }


def _bank_root(summary: dict[str, Any]) -> Path | None:
    """The bank an earlier step wrote (its folder, or a dict with a ``"root"``), if it holds pairs."""
    bank = summary.get("bank")
    if isinstance(bank, dict):
        bank = bank.get("root")
    return Path(bank) if bank and (Path(bank) / MANIFEST).is_file() else None


def step_evaluate(state: DemoState) -> None:
    """Compare the split's test defects with the bank (or shots); headline numbers in the summary."""
    split = _split(state, "evaluate")
    root = split.index.root
    real = image_set_from_samples(split.test_defects, root, "held-out real defects")
    bank = _bank_root(state.summary)
    fake = load_image_set(bank) if bank else image_set_from_samples(split.shots, root, "real shots")
    cfg = EvalConfig(metrics=DEMO_METRICS, seed=state.seed, kid_subsets=50)
    extractor, cache = EXTRACTOR_FACTORY(), FeatureCache(state.out / "eval_cache")
    report = evaluate(real, fake, cfg, extractor=extractor, cache=cache, per_defect=True)
    json_path, md_path = write_eval_report(report, state.out / "evaluation", title="Demo: generation metrics")
    overall = report["comparisons"]["all"]
    state.summary["evaluate"] = {
        "report": str(md_path),
        "json": str(json_path),
        "fake": fake.kind,
        "network": report["features"]["network"],
        "n_real": overall["n_real"],
        "n_fake": overall["n_fake"],
        "fid": overall.get("fid"),
        "kid": (overall.get("kid") or {}).get("mean"),
        "precision": (overall.get("prc") or {}).get("precision"),
        "recall": (overall.get("prc") or {}).get("recall"),
    }


def _synthetic_source(summary: dict[str, Any]) -> str | None:
    """The bank written by the generate step, else the model of the fit step, else None."""
    bank = _bank_root(summary)
    if bank is not None:
        return str(bank)
    model = summary.get("fit", {}).get("model")
    return str(model) if model and Path(model).is_dir() else None


def step_benchmark(state: DemoState) -> None:
    """Train the small UNet on each arm with 2 seeds and write ``out/benchmark/report.md`` (a demo, not a claim)."""
    split = _split(state, "benchmark")
    synthetic = _synthetic_source(state.summary)
    arms = ("real", "synthetic", "copy-paste") if synthetic else ("real", "copy-paste")
    budget = BENCH_QUICK if state.quick else BENCH_FULL
    config = BenchmarkConfig(
        arms=arms,
        seeds=tuple(range(budget.get("seeds", 2))),
        eval_every=budget.get("eval_every", budget["steps"]),
        encoder="tu-resnet10t",
        encoder_depth=3,
        decoder_channels=(32, 16, 8),
        batch_size=4,
        previews=3,
        steps=budget["steps"],
        resolution=budget["resolution"],
    )
    result = run_benchmark(split, config, synthetic=synthetic)
    paths = write_benchmark_report(result, state.out / "benchmark")
    per_arm = summarise(result["runs"])["all"]
    state.summary["benchmark"] = {
        "report": str(paths["markdown"]),
        "arms": list(arms),
        "synthetic_source": result["synthetic_source"],
        **budget,
        "pixel_ap": {a: round(v["pixel_ap"]["mean"], 3) for a, v in per_arm.items()},
        "miou": {a: round(v["miou"]["mean"], 3) for a, v in per_arm.items()},
    }
