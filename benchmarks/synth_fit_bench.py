"""Fit time per defect type and generation throughput of the embedded default, on this machine.

Fits one synthesizer per defect type (first-third split), times it, generates ``--n`` pairs at the
dataset's resolution and prints seconds per fit and pairs per second, plus a contact sheet
(source | generated | mask) of every pair and the real shots. ``--upscale K`` also times generation
into the defect-free images enlarged K times with real masks enlarged alike (KSDD is shipped here
at half its original 500 x 1250 size: ``--upscale 2`` measures the original size). Examples::

    nice -n 10 python benchmarks/synth_fit_bench.py --demo --out synth_bench_out
    nice -n 10 python benchmarks/synth_fit_bench.py --data ../shared/datasets/ksdd --defect crack --n 16
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import cv2
import numpy as np
import torch

from augment.data.demo_data import make_demo_dataset
from augment.data.imageio import read_image
from augment.data.index import index_folder
from augment.data.sheets import save_contact_sheet, sheet_tiles
from augment.data.split import make_split
from augment.synth.synthesizer import DefectSynthesizer


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="dataset folder (MVTec layout)")
    p.add_argument("--demo", action="store_true", help="build and use the demo pill dataset")
    p.add_argument("--defect", action="append", dest="defects")
    p.add_argument("--out", required=True, help="output folder (model, bank, contact sheet, timings)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument(
        "--model",
        help="a fitted synthesizer folder: skip the fit and time generation only (fit_seconds null)",
    )
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--n", type=int, default=8, help="pairs to generate per defect type")
    p.add_argument("--sample-steps", type=int, default=12)
    p.add_argument(
        "--mode", choices=("inpaint", "harmonize"), default="inpaint", help="generation mode timed"
    )
    p.add_argument("--upscale", type=int, default=1, help="also time generation at K x the image size")
    p.add_argument("--threads", type=int, default=None, help="torch threads (1 is faster on a busy machine)")
    p.add_argument(
        "--dtype",
        choices=("fp32", "bf16"),
        default="fp32",
        help="precision of the fit's autocast and of generation",
    )
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def bench_defect(split, defect: str, args: argparse.Namespace, out: Path) -> tuple[dict, list]:
    fit_s, losses = None, [float("nan")]
    if args.model:
        synth = DefectSynthesizer.from_pretrained(args.model, dtype=args.dtype)
    else:
        synth = DefectSynthesizer(resolution=args.resolution, seed=args.seed)
        t0 = time.perf_counter()
        losses = synth.fit(split, defects=[defect], steps=args.steps, seed=args.seed, dtype=args.dtype)
        fit_s = time.perf_counter() - t0
        synth.save_pretrained(out / f"model_{defect}")
        synth.to(dtype=args.dtype)
    t0 = time.perf_counter()
    pairs = synth.generate(
        args.n, defect=defect, steps=args.sample_steps, generator=args.seed, mode=args.mode
    )
    gen_s = time.perf_counter() - t0
    size = pairs[0].image.shape[:2]
    if args.upscale > 1:
        row_up = upscaled_rate(synth, defect, pairs, args)
    row = {
        "defect": defect,
        "fit_seconds": None if fit_s is None else round(fit_s, 1),
        "steps": None if args.model else args.steps,
        "final_loss": round(float(np.mean(losses[-20:])), 4),
        "pairs": len(pairs),
        "mode": args.mode,
        "dtype": args.dtype,
        "pairs_per_second": round(len(pairs) / gen_s, 3),
        "image_size": list(size),
        "quality_filter": synth.last_report,
    }
    if args.upscale > 1:
        row |= row_up
    shots = [(img, m, f"shot {defect}") for img, m in synth.shots[defect]]
    return row, pairs + shots


def upscaled_rate(synth: DefectSynthesizer, defect: str, pairs: list, args: argparse.Namespace) -> dict:
    """Pairs per second painting into the sources of ``pairs`` enlarged ``args.upscale`` times, under
    their input masks enlarged alike (nearest neighbour); harmonize pastes shots enlarged alike."""
    k = args.upscale
    images, masks = [], []
    for p in pairs:
        source = read_image(p.record["source_image"])
        mask = (p.mask > 0).astype(np.uint8)
        images.append(cv2.resize(source, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC))
        masks.append(cv2.resize(mask, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST))
    if args.mode == "harmonize":  # pastes the shots: enlarge them alike, for this timing only
        synth.shots[defect] = [
            (
                cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC),
                cv2.resize(m, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST),
            )
            for img, m in synth.shots[defect]
        ]
    given = {"masks": masks} if args.mode == "inpaint" else {}
    t0 = time.perf_counter()
    big = synth.generate(
        len(images), defect=defect, images=images, steps=args.sample_steps, generator=args.seed, mode=args.mode,
        **given,
    )  # fmt: skip
    return {
        f"pairs_per_second_x{k}": round(len(big) / (time.perf_counter() - t0), 3),
        f"image_size_x{k}": list(big[0].image.shape[:2]),
    }


def main() -> None:
    args = parse_args()
    torch.set_flush_denormal(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    root = make_demo_dataset(out / "data", progress=False) if args.demo else Path(args.data)
    split = make_split(index_folder(root))
    rows, tiles = [], []
    for defect in args.defects or split.index.defects:
        row, items = bench_defect(split, defect, args, out)
        print(json.dumps(row), flush=True)
        rows.append(row)
        pairs = [p for p in items if not isinstance(p, tuple)]
        sources = {p.record["source_image"]: read_image(p.record["source_image"]) for p in pairs}
        tiles += sheet_tiles(pairs, sources) + [t for t in items if isinstance(t, tuple)]
    sheet = save_contact_sheet(out / "generated.png", tiles, columns=6)
    (out / "bench.json").write_text(json.dumps(rows, indent=2))
    print(f"contact sheet: {sheet}")


if __name__ == "__main__":
    main()
