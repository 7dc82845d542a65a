"""``defect-synth generate``: write a bank of synthetic defect pairs plus a contact sheet."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from augment.data.imageio import read_image
from augment.data.pairs import SyntheticPair, write_pair
from augment.data.sheets import save_contact_sheet, sheet_tiles
from augment.files import CONTACT_SHEET
from augment.masks.geometry import DEFAULT_MAX_ROTATION


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="folder written by 'defect-synth fit'")
    parser.add_argument("--n", type=int, required=True, help="pairs per defect type")
    parser.add_argument("--out", required=True, help="bank folder (MVTec layout + manifest.jsonl)")
    parser.add_argument(
        "--defect", action="append", dest="defects", help="defect type (repeat; default: all)"
    )
    parser.add_argument(
        "--data",
        help="dataset folder whose defect-free images to paint on "
        "(default: the images the model was fitted with)",
    )
    parser.add_argument("--strength", type=float, default=1.0, help="0 (source image) .. 1 (default)")
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--sample-steps", type=int, default=25, help="denoising steps (default: 25)")
    parser.add_argument("--mask-source", default="real", help="'real' or 'procedural:blob|scratch|crack'")
    parser.add_argument(
        "--mask-rotation",
        type=float,
        default=DEFAULT_MAX_ROTATION,
        metavar="DEG",
        help="rotate real masks within +-DEG degrees (default: %(default)s, keeps the shots' "
        "orientation; 180: any angle)",
    )
    parser.add_argument("--no-quality-filter", action="store_true", help="keep every sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mode",
        choices=("inpaint", "text2img"),
        default="inpaint",
        help="inpaint defect-free images (default) or generate whole images with cross-attention masks",
    )
    parser.add_argument(
        "--w-product", type=float, default=None, help="text2img product guidance (default: --guidance)"
    )
    parser.add_argument(
        "--mask-quality",
        action="store_true",
        help="text2img: report mask area / IoU statistics against the fitted shots' masks",
    )
    parser.add_argument(
        "--refiner", default=None, help="SDXL refiner (hub id or folder): second stage inside the mask"
    )
    parser.add_argument(
        "--refiner-strength", type=float, default=0.3, help="refiner img2img strength (default: 0.3)"
    )


def _sources(args: argparse.Namespace, product: str | None) -> list[Path] | None:
    """Defect-free image paths of ``--data`` (None: the images the model was fitted with)."""
    if not args.data:
        return None
    from augment.data.index import index_folder

    index = index_folder(args.data, product=product if product else None)
    goods = sorted((s.image for s in index.samples if s.is_good), key=str)[:64]
    if not goods:
        raise ValueError(f"{args.data} has no defect-free images of {product!r} to paint on.")
    return goods


def run(args: argparse.Namespace) -> int:
    from augment.synth.synthesizer import DefectSynthesizer

    torch.set_flush_denormal(True)
    synth = DefectSynthesizer.from_pretrained(args.model)
    images = _sources(args, synth.product)
    out = Path(args.out)
    rng = np.random.default_rng(args.seed)
    all_pairs: list[SyntheticPair] = []
    t0 = time.perf_counter()
    for defect in args.defects or synth.defects:
        pairs = synth.generate(
            args.n,
            defect=defect,
            images=images,
            strength=args.strength,
            guidance=args.guidance,
            steps=args.sample_steps,
            generator=rng,
            mask_source=args.mask_source,
            quality_filter=not args.no_quality_filter,
            mode=args.mode,
            w_product=args.w_product,
            refiner=args.refiner,
            refiner_strength=args.refiner_strength,
            mask_quality=args.mask_quality,
            mask_rotation=args.mask_rotation,
        )
        for k, pair in enumerate(pairs):
            write_pair(out, pair, f"synth_{defect}_{k:04d}", synth.product or "product", defect)
        print(f"{defect}: {len(pairs)} pairs, quality filter {json.dumps(synth.last_report)}")
        all_pairs += pairs
    seconds = time.perf_counter() - t0
    sources = {
        name: read_image(name)
        for name in {p.record["source_image"] for p in all_pairs}
        if Path(name).is_file()
    }
    sheet = save_contact_sheet(out / CONTACT_SHEET, sheet_tiles(all_pairs, sources), columns=6)
    print(
        f"wrote {len(all_pairs)} pairs to {out} in {seconds:.1f} s "
        f"({len(all_pairs) / seconds:.2f} pairs/s); contact sheet {sheet}"
    )
    return 0
