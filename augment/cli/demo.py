"""``defect-synth demo``: the end-to-end job on the embedded default, with no downloads.

Runs the steps of ``augment.cli.demo_steps`` in order (data, index and split, contact sheet, fit,
generate, evaluate, benchmark), times each, and writes ``summary.json`` and ``summary.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augment.cli.common import add_threads
from augment.cli.demo_steps import (
    DemoState,
    step_benchmark,
    step_contact_sheet,
    step_data,
    step_evaluate,
    step_fit,
    step_generate,
    step_index,
)
from augment.cli.failures import mark_step
from augment.data.outputs import check_location, refuse_foreign
from augment.files import CONTACT_SHEET, SPLIT, SUMMARY

STEPS: list[tuple[str, Callable[[DemoState], None]]] = [
    ("build demo dataset", step_data),
    ("index and split", step_index),
    ("contact sheet", step_contact_sheet),
    ("fit", step_fit),
    ("generate", step_generate),
    ("evaluate", step_evaluate),
    ("benchmark", step_benchmark),
]


def _num(value: Any, spec: str) -> str:
    """A metric formatted with ``spec``, or "n/a" where it could not be computed."""
    return format(value, spec) if isinstance(value, int | float) else "n/a"


def _result_lines(summary: dict[str, Any]) -> list[str]:
    """One line per later stage that ran: what it made and its headline numbers."""
    lines: list[str] = []
    if fit := summary.get("fit"):
        lines.append(
            f"- fit: {fit['steps']} steps in {fit['seconds']} s for {', '.join(fit['defects'])} "
            f"-> `{fit['model']}`"
        )
    if gen := summary.get("generate"):
        lines.append(f"- generate: {gen['pairs']} pairs in {gen['seconds']} s -> `{gen['contact_sheet']}`")
    if ev := summary.get("evaluate"):
        lines.append(
            f"- evaluate (held-out real vs {ev['fake']}, N {ev['n_real']}/{ev['n_fake']}): "
            f"FID {_num(ev['fid'], '.1f')}, KID {_num(ev['kid'], '.4f')}, precision {_num(ev['precision'], '.2f')}, "
            f"recall {_num(ev['recall'], '.2f')} -> `{ev['report']}`"
        )
    if bench := summary.get("benchmark"):
        per_arm = ", ".join(
            f"{arm} {_num(ap, '.3f')}/{_num(bench['miou'][arm], '.3f')}"
            for arm, ap in bench["pixel_ap"].items()
        )
        lines.append(
            f"- benchmark, test pixel AP / mIoU (mean of {bench.get('seeds', 2)} seeds, {bench['steps']} steps: a small "
            f"demo run, not a claim; use >= 5 seeds at the documented budget): {per_arm} -> `{bench['report']}`"
        )
    return ["", *lines] if lines else []


def write_summary(state: DemoState) -> None:
    (state.out / SUMMARY).write_text(json.dumps(state.summary, indent=2, default=str))
    lines = ["# defect-synth demo", "", f"Output folder: `{state.out}`", ""]
    split = state.summary.get("split", {})
    if split:
        lines += ["| defect | shots | validation | test |", "|---|---|---|---|"]
        lines += [
            f"| {d} | {v['shots']} | {v.get('val', 0)} | {v['test']} |"
            for d, v in sorted(split["per_defect"].items())
        ]
        lines += [
            "",
            f"Defect-free: {split['good_train']} train, {split.get('good_val', 0)} validation, {split['good_test']} test "
            f"(split protocol: {split['protocol']}, seed {split['seed']}).",
        ]
    lines += _result_lines(state.summary)
    lines += ["", "| step | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in state.summary["timings_s"].items()]
    (state.out / "summary.md").write_text("\n".join(lines) + "\n")


# Everything the demo writes in its output folder: a folder holding only these is an earlier demo's.
DEMO_NAMES = frozenset(
    {
        "data",
        "model",
        "bank",
        "benchmark",
        "eval_cache",
        "generated.png",
        "summary.md",
        "evaluation.json",
        "evaluation.md",
    }
    | {SPLIT, SUMMARY, CONTACT_SHEET}
)


def is_demo_output(out: Path) -> bool:
    return all(p.name in DEMO_NAMES for p in out.iterdir())


def run_demo(out: str | Path, seed: int = 0, quick: bool = False) -> DemoState:
    """Run every demo step in order, printing progress; returns the final state.

    ``out`` must be empty, new or an earlier demo's output folder (whose files it replaces).
    """
    what = "demo output folder"
    refuse_foreign(Path(out), what, is_demo_output, "Choose an empty or new folder for the demo.")
    state = DemoState(out=check_location(out, what), seed=seed, quick=quick)
    state.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    state.summary["timings_s"] = timings
    for k, (name, fn) in enumerate(STEPS, start=1):
        print(f"[{k}/{len(STEPS)}] {name}", flush=True)
        t0 = time.perf_counter()
        try:
            fn(state)
        except Exception as exc:
            mark_step(exc, f"demo step '{name}'")
            raise
        timings[name] = time.perf_counter() - t0
    write_summary(state)
    print(f"done: see {state.out / 'summary.md'} and {state.out / CONTACT_SHEET}", flush=True)
    return state


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smaller dataset and budgets, for smoke tests")
    add_threads(parser)


def run(args: argparse.Namespace) -> int:
    run_demo(args.out, seed=args.seed, quick=args.quick)
    return 0
