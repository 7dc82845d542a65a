"""The demo's last step: a small downstream benchmark on the demo data (real vs synthetic vs copy-paste).

The budget is tiny (a small timm encoder, low resolution, few steps), so the numbers show that
the pipeline runs end to end, not whether synthetic data helps; the KSDD run in the README is the
measurement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augment.files import MANIFEST
from downstream.protocol import BenchmarkConfig, run_benchmark
from downstream.report import summarise, write_report

QUICK = {"steps": 15, "resolution": 64}
FULL = {"steps": 150, "resolution": 128}


def synthetic_source(summary: dict[str, Any]) -> str | None:
    """The bank written by the demo's generate step, else the model of its fit step, else None."""
    bank = summary.get("bank")
    if bank and (Path(bank) / MANIFEST).is_file():
        return str(bank)
    model = summary.get("fit", {}).get("model")
    return str(model) if model and Path(model).is_dir() else None


def step_benchmark(state: Any) -> None:
    """Train the small UNet on each arm with 3 seeds and write ``out/benchmark/report.md``."""
    if state.split is None:
        raise ValueError("the benchmark step needs the split: run the 'index and split' step first.")
    synthetic = synthetic_source(state.summary)
    arms = ("real", "synthetic", "copy-paste") if synthetic else ("real", "copy-paste")
    budget = QUICK if state.quick else FULL
    config = BenchmarkConfig(
        arms=arms,
        seeds=(0, 1, 2),
        encoder="tu-resnet10t",
        encoder_depth=3,
        decoder_channels=(32, 16, 8),
        batch_size=4,
        previews=3,
        steps=budget["steps"],
        resolution=budget["resolution"],
    )
    result = run_benchmark(state.split, config, synthetic=synthetic)
    paths = write_report(result, state.out / "benchmark")
    summary = headline(result)
    state.summary["benchmark"] = {
        "report": str(paths["markdown"]),
        "arms": list(arms),
        "synthetic_source": result["synthetic_source"],
        **budget,
        **summary,
    }


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """Mean pixel AP and mIoU per arm over seeds, for the demo's summary.json."""
    arms = summarise(result["runs"])["all"]
    return {
        "pixel_ap": {a: round(v["pixel_ap"]["mean"], 3) for a, v in arms.items()},
        "miou": {a: round(v["miou"]["mean"], 3) for a, v in arms.items()},
    }
