"""The demo's evaluation step: held-out real defects vs a synthetic bank (or vs the real shots).

An earlier demo step that wrote a bank says so with ``state.summary["bank"]`` (its folder, or a
dict with a ``"root"`` key); without one, the real shots stand in as the comparison, which gives
the real-vs-real reference numbers. The report is ``evaluation.md``/``.json`` in the demo folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.cache import FeatureCache
from eval.compare import EvalConfig, evaluate
from eval.features import load_inception
from eval.report import write_report
from eval.sources import image_set_from_samples, load_image_set

# Replaced in tests by a tiny fake, so that they never load the 87 MB Inception.
EXTRACTOR_FACTORY = load_inception
DEMO_METRICS = ("fid", "kid", "prc", "is", "masks")


def _bank_root(summary: dict[str, Any]) -> Path | None:
    bank = summary.get("bank")
    if isinstance(bank, dict):
        bank = bank.get("root")
    return Path(bank) if bank else None


def step_evaluate(state: Any) -> None:
    """Compare the split's test defects with the bank (or shots); store headline numbers in the summary."""
    if state.split is None:
        raise ValueError("the evaluate step needs the split: run the 'index and split' step first.")
    root = state.split.index.root
    real = image_set_from_samples(state.split.test_defects, root, "held-out real defects")
    bank = _bank_root(state.summary)
    fake = load_image_set(bank) if bank else image_set_from_samples(state.split.shots, root, "real shots")
    cfg = EvalConfig(metrics=DEMO_METRICS, seed=state.seed, kid_subsets=50)
    report = evaluate(
        real,
        fake,
        cfg,
        extractor=EXTRACTOR_FACTORY(),
        cache=FeatureCache(state.out / "eval_cache"),
        per_defect=True,
    )
    json_path, md_path = write_report(report, state.out / "evaluation", title="Demo: generation metrics")
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
