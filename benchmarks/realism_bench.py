"""Realism of generated defects at their own scale: KID on native crops and shape statistics.

For one defect type of a dataset and a fitted synthesizer, compares held-out real defects (the
split's validation part to choose settings, its test part to report) with

* the synthesizer's pairs in each ``--modes`` (inpaint, harmonize), painted into defect-free
  training images;
* plain copy-paste of the shots (``augment.loaders.copy_paste``), over several ``--paste-seeds``;
* the real shots themselves (a reference: how far real defects are from each other).

Each set is measured by KID (Inception features of ``--side`` px crops centred on each defect at
the image's own scale, unbiased at small N) and by the median visible width and contrast of its
defects (``eval.shape``). Prints one row per set and writes a contact sheet of native-scale crops
(real shot | generated | its mask) per mode.

    python benchmarks/realism_bench.py --data ../shared/datasets/ksdd --model runs/ksdd_model \\
        --defect crack --part val --n 34 --out runs/realism_ksdd
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from augment import DefectSynthesizer, index_folder, load_sample_arrays, make_split
from augment.data.sheets import save_contact_sheet
from augment.loaders.copy_paste import CopyPasteSource
from augment.masks.paste import paste_defect
from augment.synth.windows import centred_window, cut_padded
from eval.features import extract_features, load_inception
from eval.metrics import kid
from eval.shape import native_crops, shape_stats


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="dataset folder (MVTec layout)")
    p.add_argument("--model", required=True, help="fitted synthesizer folder (defect-synth fit)")
    p.add_argument("--defect", required=True)
    p.add_argument(
        "--part", choices=("val", "test"), default="val", help="held-out real defects to compare with"
    )
    p.add_argument("--modes", default="inpaint,harmonize")
    p.add_argument("--n", type=int, default=34, help="generated pairs per mode and pastes per seed")
    p.add_argument("--paste-seeds", default="0,1,2,3", help="copy-paste draws to compare with ('' for none)")
    p.add_argument(
        "--paste-blends",
        default="",
        help="also paste the shots with each of these blends (feather, seamless), same draws for each",
    )
    p.add_argument("--sample-steps", type=int, default=12, help="denoising steps per pair (generate's steps)")
    p.add_argument("--strength", type=float, default=None, help="default: each mode's own")
    p.add_argument(
        "--guidance",
        default="1",
        help="classifier-free guidance scales to paint with, each its own row (1: none, the default)",
    )
    p.add_argument("--side", type=int, default=128, help="crop side in image pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--dtype", choices=("fp32", "bf16"), default="fp32", help="the model's precision when painting"
    )
    p.add_argument("--out", required=True, help="folder for results.json and the contact sheets")
    return p.parse_args()


def measure(name: str, images: list, masks: list, real_features: np.ndarray, side: int, extractor) -> dict:
    """KID to the real crops and shape statistics of one set of (image, mask) pairs."""
    features = extract_features(native_crops(images, masks, side), extractor)[0]
    value, spread, subset = kid(real_features, features, num_subsets=100, rng=0)
    row = {"set": name, "kid_x1e3": 1e3 * value, "kid_std_x1e3": 1e3 * spread, "subset": subset}
    row |= shape_stats(images, masks)
    print(json.dumps(row), flush=True)
    return row


def blended_pastes(shots: list, goods: list, n: int, seed: int, blend: str) -> tuple[list, list]:
    """``n`` pastes of random shots into random defect-free images with ``blend`` (same draws per seed)."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    while len(images) < n:
        k, g = int(rng.integers(len(shots))), goods[int(rng.integers(len(goods)))]
        pasted = paste_defect(g, shots[k][0], shots[k][1], rng, None, blend=blend)
        if pasted is not None:
            images.append(pasted[0])
            masks.append(pasted[1])
    return images, masks


def sheet(path: Path, shots: list, pairs: list, side: int) -> None:
    """Rows of (real shot crop, generated crop, generated crop with its mask outlined), each at the
    image's own scale, shown twice enlarged."""
    tiles = []
    for k, pair in enumerate(pairs[:8]):
        shot_image, shot_mask = shots[k % len(shots)]
        window = centred_window(pair.mask, side)
        crop, crop_mask = cut_padded(pair.image, window), cut_padded(pair.mask, window)
        real = native_crops([shot_image], [shot_mask], side)[0]
        tiles += [(real, None, "real shot"), (crop, None, "generated"), (crop, crop_mask, "its mask")]
    save_contact_sheet(path, tiles, columns=3, tile_size=2 * side)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    os.environ.setdefault("TQDM_DISABLE", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    split = make_split(index_folder(args.data))
    held = split.val_defects if args.part == "val" else split.test_defects
    real = [load_sample_arrays(s) for s in held if s.defect == args.defect]
    shots = [load_sample_arrays(s) for s in split.shots if s.defect == args.defect]
    goods = [load_sample_arrays(s)[0] for s in split.good_train[:64]]
    extractor = load_inception()
    real_features = extract_features(native_crops(*zip(*real, strict=True), args.side), extractor)[0]
    rows = [
        measure(
            f"real shots ({len(shots)})",
            *map(list, zip(*shots, strict=True)),
            real_features,
            args.side,
            extractor,
        )
    ]
    synth = DefectSynthesizer.from_pretrained(args.model, dtype=args.dtype)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    scales = [float(g) for g in args.guidance.split(",") if g.strip()]
    for mode, guidance in itertools.product(modes, scales):
        name = mode if guidance == 1.0 else f"{mode} guidance {guidance:g}"
        t0 = time.perf_counter()
        pairs = synth.generate(
            args.n,
            defect=args.defect,
            mode=mode,
            images=goods,
            generator=args.seed,
            steps=args.sample_steps,
            strength=args.strength,
            guidance=guidance,
            progress=False,
        )
        seconds = time.perf_counter() - t0
        row = measure(
            name, [p.image for p in pairs], [p.mask for p in pairs], real_features, args.side, extractor
        )
        rows.append(row | {"pairs_per_s": len(pairs) / seconds, "report": synth.last_report})
        sheet(out / f"sheet_{name.replace(' ', '_')}.png", shots, pairs, args.side)
    paste = CopyPasteSource.from_shots([(i, m, args.defect) for i, m in shots])
    for seed in (int(s) for s in args.paste_seeds.split(",") if s.strip()):
        pairs = paste.draw({args.defect: args.n}, goods, seed)
        rows.append(
            measure(
                f"copy-paste seed {seed}",
                [p.image for p in pairs],
                [p.mask for p in pairs],
                real_features,
                args.side,
                extractor,
            )
        )
    for blend in (b.strip() for b in args.paste_blends.split(",") if b.strip()):
        for seed in (int(s) for s in args.paste_seeds.split(",") if s.strip()):
            images, masks = blended_pastes(shots, goods, args.n, seed, blend)
            rows.append(
                measure(f"paste {blend} seed {seed}", images, masks, real_features, args.side, extractor)
            )
    real_row = shape_stats(*map(list, zip(*real, strict=True)))
    print(json.dumps({"set": f"real {args.part} ({len(real)})"} | real_row))
    (out / "results.json").write_text(
        json.dumps({"args": vars(args), "real": real_row, "rows": rows}, indent=2, default=str)
    )


if __name__ == "__main__":
    main()
