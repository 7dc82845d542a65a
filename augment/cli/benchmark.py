"""``defect-synth benchmark``: train the same detector on each arm, choose on validation, report on test."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from augment.cli.common import DEVICE_FLAGS, add_skip_invalid, report_invalid
from augment.data.index import index_folder
from augment.data.outputs import check_location, refuse_foreign
from augment.data.split import FewShotSplit, load_split
from augment.devices import DEVICE_CHOICES
from augment.files import SPLIT
from downstream.arms import ARMS
from downstream.config import DEFAULT_SEEDS, RATIO_GRID, BenchmarkConfig
from downstream.protocol import run_sweep
from downstream.report import write_report
from downstream.shots import THIRD, Setting, base_split, parse_shots, sweep_splits

# library argument spellings in error messages -> this command's flags
FLAGS = {
    "pass synthetic=FOLDER": "pass --synthetic FOLDER",
    "out of the arms": "out of --arms",
    "skip_invalid=True": "--skip-invalid",
    "synthetic_ratio": "--ratio",
    "ratio_grid": "--ratio-grid",
    "eval_every": "--eval-every",
    "workers=": "--workers ",
    "workers must": "--workers must",
    "threads must": "--threads must",
    "draws must": "--shot-draws must",
    **DEVICE_FLAGS,
}


def _ratio(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ratio must be a number > 0 or 'auto', got {text!r}") from None


def _grid(text: str) -> tuple[float, ...]:
    """``--ratio-grid``: comma-separated ratios > 0, e.g. ``2,4,8``."""
    try:
        grid = tuple(float(r) for r in text.split(",") if r.strip())
    except ValueError:
        grid = ()
    if not grid or any(r <= 0 for r in grid):
        raise argparse.ArgumentTypeError(
            f"--ratio-grid must be comma-separated numbers > 0 (e.g. 2,4,8), got {text!r}"
        )
    return grid


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset folder (MVTec layout or generic)")
    parser.add_argument("--split", help="a saved split JSON to reuse (default: make one from --data)")
    parser.add_argument(
        "--shots",
        default=THIRD,
        help=f"shots per defect type: a list such as 1,3,5,{THIRD} runs the protocol at each, on the same "
        f"validation and test images ({THIRD} = the first third by file name; default {THIRD})",
    )
    parser.add_argument(
        "--shot-draws",
        type=int,
        default=1,
        help="draws of the shots of each K-shot setting (default 1): with few shots the choice of "
        "shots moves the detector as much as the arms do; N > 1 runs each such setting on N draws",
    )
    parser.add_argument(
        "--synthetic", help="saved synthesizer, bank/export or dataset folder (for the synthetic arms)"
    )
    parser.add_argument("--arms", default="real,copy-paste", help=f"comma-separated, from {','.join(ARMS)}")
    parser.add_argument(
        "--seeds",
        type=int,
        default=len(DEFAULT_SEEDS),
        help="number of seeds (0..N-1), at least 5 for a claim",
    )
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps per run (same for every arm)")
    parser.add_argument(
        "--eval-every",
        type=int,
        default=50,
        help="validate every N steps; the best validation AP checkpoint is tested",
    )
    parser.add_argument("--resolution", type=int, default=256, help="longer side of the model input (px)")
    parser.add_argument("--crop", type=int, default=None, help="train on crops of this side (multiple of 32)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--loss", default="dice+bce", help="dice+bce, focal or dice+focal")
    parser.add_argument("--encoder", default="resnet18", help="smp encoder name (no pretrained weights)")
    parser.add_argument("--encoder-depth", type=int, default=5)
    parser.add_argument("--decoder-channels", default="256,128,64,32,16", help="one width per encoder stage")
    parser.add_argument(
        "--ratio",
        type=_ratio,
        default=2.0,
        help="extra pairs per real shot (default 2), or 'auto': chosen per arm among --ratio-grid "
        "on validation (trains every ratio)",
    )
    parser.add_argument(
        "--ratio-grid",
        type=_grid,
        default=None,
        help=f"comma-separated ratios tried by --ratio auto (default {','.join(f'{r:g}' for r in RATIO_GRID)}); "
        "ratio 6 ranked above 2 on validation for both sources on the demo pills and KSDD (README)",
    )
    parser.add_argument(
        "--real-defect-share",
        type=float,
        default=0.5,
        help="share of the defect draws kept by the real shots when an arm adds extra defect pairs "
        "(default 0.5; the real arm is unaffected)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help=f"{DEVICE_CHOICES} (default auto: the GPU when torch sees one, else the CPU)",
    )
    parser.add_argument(
        "--dtype", choices=["fp32", "bf16"], default="fp32", help="fp32, or bf16 autocast (for a GPU)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="CPU processes running (seed, arm) jobs side by side (default 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch threads per job (default 1); results are identical whatever --workers",
    )
    add_skip_invalid(parser)
    parser.add_argument(
        "--out",
        required=True,
        help="output folder for results.json, report.md and PNGs; finished jobs are kept in OUT/jobs and a rerun into the same folder (more arms, after an interruption) trains only what is missing",
    )


def config_from_args(args: argparse.Namespace) -> BenchmarkConfig:
    if args.ratio_grid is not None and args.ratio != "auto":
        raise ValueError(
            f"--ratio-grid sets the ratios that --ratio auto tries, but --ratio is {args.ratio:g}; "
            "pass --ratio auto to choose among the grid on validation, or drop --ratio-grid."
        )
    return BenchmarkConfig(
        arms=tuple(a.strip() for a in args.arms.split(",") if a.strip()),
        seeds=tuple(range(args.seeds)),
        steps=args.steps,
        eval_every=args.eval_every,
        resolution=args.resolution,
        crop=args.crop,
        batch_size=args.batch_size,
        lr=args.lr,
        loss=args.loss,
        encoder=args.encoder,
        encoder_depth=args.encoder_depth,
        decoder_channels=tuple(int(c) for c in args.decoder_channels.split(",")),
        synthetic_ratio=args.ratio,
        ratio_grid=args.ratio_grid or RATIO_GRID,
        real_defect_share=args.real_defect_share,
        device=args.device,
        dtype=args.dtype,
        workers=args.workers,
        threads=args.threads,
    )


def _split(args: argparse.Namespace, settings: list[Setting]) -> FewShotSplit:
    """The saved ``--split``, or a new one of ``--data`` (without its invalid files with --skip-invalid)."""
    if args.split:
        return load_split(args.split)
    index = index_folder(args.data, skip_invalid=args.skip_invalid)
    report_invalid(index)
    return base_split(index, settings, draws=args.shot_draws)


# What the benchmark writes in its output folder: a folder holding only these is an earlier benchmark's.
JOBS = "jobs"  # finished jobs, reused by a rerun into the same folder (downstream.cache)
REPORT_NAMES = frozenset(
    {"results.json", "report.md", "bars.png", "curves.png", "shots.png", "predictions.png", SPLIT, JOBS}
)


SETTING_SPLIT = re.compile(r"split-\d+shots?(-draw\d+)?\.json")  # one setting's split, to fit a model on


def setting_split_name(k: int, draw: int = 0) -> str:
    return f"split-{k}shot{'s' if k > 1 else ''}{f'-draw{draw}' if draw else ''}.json"


def is_benchmark_output(out: Path) -> bool:
    return all(p.name in REPORT_NAMES or SETTING_SPLIT.fullmatch(p.name) for p in out.iterdir())


def save_splits(split: FewShotSplit, settings: list[Setting], out: Path, draws: int = 1) -> list[Path]:
    """The base split as ``split.json`` and each K-shot setting's as ``split-Kshots.json`` (other
    draws ``split-Kshots-drawD.json``): the files ``defect-synth fit --split`` takes, so a model is
    fitted on exactly the shots a setting trains on."""
    paths = [split.save(out / SPLIT)]
    for setting, draw, part in sweep_splits(split, settings, draws):
        if setting is not None:
            paths.append(part.save(out / setting_split_name(setting, draw)))
    return paths


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    settings = parse_shots(args.shots)
    what = "benchmark output folder"
    refuse_foreign(Path(args.out), what, is_benchmark_output, "Choose an empty or new folder for the report.")
    check_location(args.out, what)
    split = _split(args, settings)
    splits = save_splits(split, settings, Path(args.out), args.shot_draws)
    t0 = time.perf_counter()
    sweep = run_sweep(
        split, settings, config, synthetic=args.synthetic, cache=Path(args.out) / JOBS, draws=args.shot_draws
    )
    paths = write_report(sweep, args.out)
    print(paths["markdown"].read_text())
    print("splits (for defect-synth fit --split): " + ", ".join(str(p) for p in splits))
    print(f"wall time {time.perf_counter() - t0:.0f} s; wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
