"""``defect-synth evaluate``: generation metrics of a fake set against a real set, as JSON + markdown."""

from __future__ import annotations

import argparse
from pathlib import Path

from augment.cli.common import DEVICE_FLAGS, add_device, add_skip_invalid, add_threads
from augment.data.outputs import check_location
from eval.cache import FeatureCache
from eval.compare import EvalConfig, evaluate
from eval.metrics import METRICS
from eval.report import write_report
from eval.sources import load_image_set


def _metric_list(text: str) -> tuple[str, ...]:
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = sorted(set(names) - set(METRICS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown metrics {unknown or [text]}; choose from {','.join(METRICS)}."
        )
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--real", required=True, help="real images: dataset (its defect images), bank or folder"
    )
    parser.add_argument("--fake", required=True, help="generated images: bank, dataset or folder")
    parser.add_argument(
        "--metrics",
        type=_metric_list,
        default=METRICS,
        help=f"comma-separated subset of {','.join(METRICS)} (default: all)",
    )
    parser.add_argument("--defects", nargs="*", default=None, help="keep only these defect types")
    parser.add_argument("--per-defect", action="store_true", help="also compare each defect type on its own")
    parser.add_argument("--out", required=True, help="report path; writes OUT.json and OUT.md")
    parser.add_argument("--cache", default=None, help="feature cache folder (default: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the KID subsets")
    parser.add_argument("--kid-subset-size", type=int, default=1000, help="capped at the smaller set")
    parser.add_argument("--batch-size", type=int, default=16)
    add_skip_invalid(parser)
    add_threads(parser)
    add_device(
        parser, "precision of the feature network (default: fp32; other precisions change the numbers)"
    )


# library argument spellings in error messages -> this command's flags
FLAGS = {"skip_invalid=True": "--skip-invalid", **DEVICE_FLAGS}


def run(args: argparse.Namespace) -> int:
    check_location(Path(args.out).absolute().parent, "evaluate report folder")
    real = load_image_set(args.real, args.defects, args.skip_invalid)
    fake = load_image_set(args.fake, args.defects, args.skip_invalid)
    cfg = EvalConfig(
        metrics=tuple(args.metrics),
        seed=args.seed,
        kid_subset_size=args.kid_subset_size,
        batch_size=args.batch_size,
    )
    cache = FeatureCache(args.cache) if args.cache else None
    report = evaluate(
        real, fake, cfg, cache=cache, per_defect=args.per_defect, device=args.device, dtype=args.dtype
    )
    json_path, md_path = write_report(report, args.out)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    return 0
