"""Zero-shot transfer with the embedded default: a defect learned on one product painted on another.

Fits one synthesizer on two products at once (MVTec layout root, e.g. ``mvtec_fewshot``: cable and
pill), one defect type of each, all their images as shots (``--shots``), then paints each defect on
the *other* product's images (``generate(product=...)``: the target product's token, its images,
the source product's real masks placed on the target's foreground) and, for reference, on its own
product. Writes a contact sheet of crops around each painted mask (source | generated | mask) and a
JSON summary with the quality filter's counts.

    nice -n 10 python benchmarks/zero_shot_transfer.py --data ../shared/datasets/mvtec_fewshot \\
        --source cable:cut_outer_insulation --source pill:contamination --out /tmp/zero_shot
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import torch

from augment.data.imageio import read_image
from augment.data.index import index_folder
from augment.data.pairs import SyntheticPair
from augment.data.sheets import save_contact_sheet
from augment.data.split import make_split
from augment.errors import TooFewPairsError
from augment.synth.synthesizer import DefectSynthesizer
from augment.synth.windows import bbox
from augment.threads import set_threads


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="MVTec-layout root holding both products")
    p.add_argument("--source", action="append", required=True, help="PRODUCT:DEFECT learned (repeat, two)")
    p.add_argument("--targets", default="color,cable_swap", help="defect folders whose images are painted on")
    p.add_argument("--shots", type=int, default=3)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--n", type=int, default=3, help="pairs per (defect, target product)")
    p.add_argument("--sample-steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    return p.parse_args()


def crop(image: np.ndarray, mask: np.ndarray, grow: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The square around ``mask``'s box, ``grow`` box sides of context on each side (in the image)."""
    y0, x0, y1, x1 = bbox(mask)
    side = int(max(y1 - y0, x1 - x0) * (1 + 2 * grow)) + 8
    h, w = mask.shape
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    top, left = min(max(0, cy - side // 2), max(0, h - side)), min(max(0, cx - side // 2), max(0, w - side))
    return image[top : top + side, left : left + side], mask[top : top + side, left : left + side]


def tiles(pairs: list[SyntheticPair], label: str) -> list[tuple[np.ndarray, np.ndarray | None, str]]:
    out: list[tuple[np.ndarray, np.ndarray | None, str]] = []
    for pair in pairs:
        source = read_image(pair.record["source_image"])
        shown = pair.mask if pair.mask.any() else (pair.image != source).any(axis=2).astype(np.uint8)
        src, _ = crop(source, shown)
        gen, msk = crop(pair.image, shown)
        out += [(src, None, "source"), (gen, None, label), (gen, msk, "mask")]
    return out


def main() -> int:
    args = parse_args()
    set_threads(args.threads)
    torch.set_flush_denormal(True)
    sources = [tuple(s.split(":", 1)) for s in args.source]
    index = index_folder(args.data)
    split = make_split(index, shots=args.shots, seed=0)
    synth = DefectSynthesizer()
    start = time.perf_counter()
    synth.fit(split, defects=[d for _, d in sources], steps=args.steps, batch_size=8, seed=0)
    fit_seconds = time.perf_counter() - start
    targets = set(args.targets.split(","))
    images = {p: sorted(str(s.image) for s in index.samples if s.product == p and s.defect in targets)
              for p in index.products}  # fmt: skip
    out, sheet, summary = Path(args.out), [], {"fit_seconds": round(fit_seconds, 1), "runs": []}
    for learned_on, defect in sources:
        for product in index.products:
            try:
                pairs = synth.generate(
                    args.n, defect=defect, product=product, images=images[product], steps=args.sample_steps,
                    guidance=args.guidance, generator=0, progress=False,
                )  # fmt: skip
            except TooFewPairsError:
                pairs = []
            kind = "same product" if product == learned_on else "transfer"
            summary["runs"].append({"defect": defect, "learned_on": learned_on, "painted_on": product,
                                    "kind": kind, **synth.last_report})  # fmt: skip
            sheet += tiles(pairs, f"{learned_on} {defect[:12]} on {product}")
    out.mkdir(parents=True, exist_ok=True)
    save_contact_sheet(out / "contact_sheet.png", sheet, columns=6, tile_size=160)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
