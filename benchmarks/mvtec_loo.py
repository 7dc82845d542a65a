"""Textured defects without defect-free images: leave-one-out on MVTec few-shot products.

For one product folder with three images per defect type and no defect-free images (the layout of
``../shared/datasets/mvtec_fewshot``), one synthesizer is fitted on the first two images of every
type; each type is then painted into those two images, away from their own defects (a real mask
of the type, moved on the object's foreground minus the existing defect grown by ``--keep-out``
px), and compared with the held-out third image: median visible width and contrast
(``eval.shape``), and a contact sheet of native-scale crops (held-out real | generated | its mask).
A type whose shots leave no foreground away from their own defect (e.g. a defect covering the whole
object) is reported as skipped, with that reason. The fitted model is saved in ``OUT/model`` and
``--model`` reuses one; ``results.json`` is rewritten after every type.

    python benchmarks/mvtec_loo.py --data ../shared/datasets/mvtec_fewshot/pill --steps 1000 \\
        --out runs/loo_pill
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from augment import DefectSynthesizer, FewShotSplit, index_folder, load_sample_arrays
from augment.data.sheets import save_contact_sheet
from augment.masks.bank import RealMaskBank
from augment.masks.foreground import estimate_foreground
from augment.synth.windows import centred_window, cut_padded
from eval.shape import native_crops, shape_stats


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="one product folder (MVTec layout, defect images only)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--n", type=int, default=4, help="pairs per defect type")
    p.add_argument("--keep-out", type=int, default=16, help="px kept clear around an image's own defect")
    p.add_argument("--side", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", help="a synthesizer saved by an earlier run (skips the fit)")
    p.add_argument("--out", required=True)
    return p.parse_args()


def away_from_defect(image: np.ndarray, mask: np.ndarray, keep_out: int) -> np.ndarray:
    """The image's foreground minus its own defect grown by ``keep_out`` pixels."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * keep_out + 1,) * 2, np.uint8)) > 0
    return estimate_foreground(image) & ~grown


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    out = Path(args.out)
    index = index_folder(args.data)
    by_type: dict[str, list] = {}
    for sample in sorted(index.samples, key=lambda s: s.image.name):
        by_type.setdefault(sample.defect, []).append(sample)
    train = [s for rows in by_type.values() for s in rows[:2]]
    held = {d: rows[2] for d, rows in by_type.items() if len(rows) > 2}
    split = FewShotSplit(
        index=index,
        shots=train,
        test_defects=[],
        good_train=[],
        good_test=[],
        protocol="leave-one-out",
        seed=args.seed,
    )
    t0 = time.perf_counter()
    if args.model:
        synth = DefectSynthesizer.from_pretrained(args.model)
        fit_s = None
    else:
        synth = DefectSynthesizer(seed=args.seed)
        synth.fit(split, steps=args.steps, seed=args.seed, progress=False)
        fit_s = time.perf_counter() - t0
        synth.save_pretrained(out / "model")
    rng = np.random.default_rng(args.seed)
    rows, tiles = [], []
    summary = {"args": vars(args), "fit_s": fit_s, "rows": rows}
    for defect, real in sorted(held.items()):
        shots = [load_sample_arrays(s) for s in by_type[defect][:2]]
        targets = [(image, away_from_defect(image, own, args.keep_out)) for image, own in shots]
        targets = [(image, room) for image, room in targets if room.any()]
        if not targets:
            reason = f"no foreground left {args.keep_out} px away from the shots' own defects"
            rows.append({"defect": defect, "skipped": reason})
            print(json.dumps(rows[-1]), flush=True)
            continue
        bank = RealMaskBank([m for _, m in shots])
        images, masks = [], []
        for k in range(args.n):
            image, room = targets[k % len(targets)]
            masks.append(bank.sample(image.shape[:2], room, rng))
            images.append(image)
        pairs = synth.generate(len(images), defect=defect, images=images, masks=masks, generator=args.seed)
        real_image, real_mask = load_sample_arrays(real)
        row = {"defect": defect, "real": shape_stats([real_image], [real_mask])}
        row["generated"] = shape_stats([p.image for p in pairs], [p.mask for p in pairs])
        rows.append(row)
        print(json.dumps(row), flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(summary, indent=2))
        window = centred_window(pairs[0].mask, args.side)
        crop = cut_padded(pairs[0].image, window)
        tiles += [
            (native_crops([real_image], [real_mask], args.side)[0], None, f"held-out {defect}"),
            (crop, None, "generated"),
            (crop, cut_padded(pairs[0].mask, window), "its mask"),
        ]
    save_contact_sheet(out / "sheet.png", tiles, columns=6, tile_size=args.side)
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    fitted = "loaded" if fit_s is None else f"fit {fit_s:.0f} s"
    print(f"{fitted}; sheet {out / 'sheet.png'}")


if __name__ == "__main__":
    main()
