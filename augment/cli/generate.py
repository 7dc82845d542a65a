"""``defect-synth generate``: write a bank of synthetic defect pairs plus a contact sheet."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augment.cli.common import DEVICE_FLAGS, add_device, add_skip_invalid, add_threads, report_invalid
from augment.data.bank_folder import open_bank
from augment.data.imageio import image_size, read_image
from augment.data.index import index_folder
from augment.data.pairs import SyntheticPair, write_pair
from augment.data.sheets import save_contact_sheet, sheet_tiles
from augment.files import CONTACT_SHEET
from augment.masks.geometry import DEFAULT_MAX_ROTATION
from augment.masks.threshold import THRESHOLDS
from augment.synth.batches import MAX_GOOD_IMAGES
from augment.synth.inputs import MODES
from augment.synth.synthesizer import DefectSynthesizer

logger = logging.getLogger(__name__)


# library argument spellings in error messages -> this command's flags
FLAGS = {
    "mask_source must": "--mask-source must",
    "mask_source='procedural:blob'": "--mask-source procedural:blob",
    "max_rotation must": "--mask-rotation must",
    "refiner_strength must": "--refiner-strength must",
    "refiner= applies": "--refiner applies",
    "threshold= applies": "--threshold applies",
    "mask_quality= applies": "--mask-quality applies",
    "quality_filter=False": "--no-quality-filter",
    "pass masks=[...], or choose": "choose",
    "pass images=[...] with defect-free images": "pass --data DIR with defect-free images",
    "pass append=True": "pass --append",
    "Pass another seed": "Pass another --seed",
    "skip_invalid=True": "--skip-invalid",
    **DEVICE_FLAGS,
}


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
    parser.add_argument(
        "--product",
        default=None,
        help="with a model of several products: the product to paint on (its token and images), "
        "e.g. a defect learned on another product (default: the first fitted)",
    )
    parser.add_argument(
        "--strength",
        type=float,
        default=None,
        help="0 (source image) .. 1; default: the mode's (inpaint 1.0, harmonize 0.1)",
    )
    parser.add_argument(
        "--guidance", type=float, default=1.0, help="classifier-free guidance scale (default: 1, none)"
    )
    parser.add_argument("--sample-steps", type=int, default=12, help="denoising steps (default: 12)")
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
        "--append",
        action="store_true",
        help="add pairs to a bank an earlier generate wrote in --out, under new names (another --seed)",
    )
    add_skip_invalid(parser)
    add_threads(parser)
    add_device(parser, "precision the models run in (default: as saved; bf16 works on CPU, fp16 needs a GPU)")
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="inpaint",
        help="inpaint new defects into defect-free images (default), harmonize pasted real shots, "
        "or generate whole model windows with cross-attention masks (text2img)",
    )
    parser.add_argument(
        "--w-product",
        type=float,
        default=None,
        help="double-free guidance's product scale (text2img default: --guidance; inpaint and harmonize "
        "switch from classic guidance to double-free when --w-product or --w-defect is given, default 1)",
    )
    parser.add_argument(
        "--w-defect",
        type=float,
        default=None,
        help="double-free guidance's defect scale (default: --guidance, times --strength for text2img)",
    )
    parser.add_argument(
        "--prompt", default=None, help="replaces 'a photo of a <product> with a <defect>' (keep the tokens)"
    )
    parser.add_argument(
        "--negative-prompt",
        default=None,
        help="what guidance pushes away from (default: 'a photo of a <product>'; with double-free "
        "guidance and text2img: '')",
    )
    parser.add_argument(
        "--threshold",
        choices=THRESHOLDS,
        default=None,
        help="text2img: binarise the attention maps with otsu (default) or iterative thresholding",
    )
    parser.add_argument(
        "--mask-quality",
        action="store_true",
        help="text2img: report mask area / IoU statistics against the fitted shots' masks",
    )
    parser.add_argument(
        "--refiner",
        default=None,
        help="SDXL refiner (hub id or folder): second stage inside the mask (default: the one fitted with "
        "the model, if any)",
    )
    parser.add_argument(
        "--refiner-strength", type=float, default=0.3, help="refiner img2img strength (default: 0.3)"
    )
    parser.add_argument(
        "--no-refiner", action="store_true", help="skip the refiner the model was fitted with (fit --refiner)"
    )


def _sources(data: str | None, product: str | None, skip_invalid: bool) -> list[Path] | None:
    """Defect-free image paths of ``--data`` (None: the images the model was fitted with)."""
    if not data:
        return None
    index = index_folder(data, product=product if product else None, skip_invalid=skip_invalid)
    report_invalid(index)
    goods = sorted((s.image for s in index.samples if s.is_good), key=str)
    if not goods:
        raise ValueError(f"{data} has no defect-free images of {product!r} to paint on.")
    if len(goods) > MAX_GOOD_IMAGES:
        logger.info(
            "painting into the first %d of the %d defect-free images of %s", MAX_GOOD_IMAGES, len(goods), data
        )
    return goods[:MAX_GOOD_IMAGES]


def pair_bytes(paths: Sequence[str | Path]) -> int:
    """Room one written pair may take (uncompressed image + mask of the largest of the first few
    source images): the free space generate asks of its output folder before it starts."""
    sizes = [image_size(Path(p)) for p in paths[:8] if Path(p).is_file()]
    return max((4 * w * h for w, h in sizes), default=0)


def _names(defect: str, taken: set[str]) -> Iterator[str]:
    """Pair names for ``defect`` that no earlier pair of the bank has, in order."""
    for k in itertools.count():
        name = f"synth_{defect}_{k:04d}"
        if name not in taken:
            yield name


def generate_bank(
    synth: DefectSynthesizer,
    out: Path,
    defects: Sequence[str],
    n: int,
    seed: int,
    append: bool = False,
    **options: Any,
) -> tuple[list[SyntheticPair], dict[str, dict[str, Any]]]:
    """``n`` pairs of each defect type written into the bank ``out`` (``options`` go to ``generate``);
    returns the pairs and each type's quality-filter report.

    ``out`` must be empty or new, or, with ``append=True``, a bank generate wrote before: the new
    pairs then get names no earlier pair has (`augment.data.bank_folder`). Checked before any work.
    """
    sources = options.get("images") or synth.fitted.good_images
    run = {"seed": seed, "model": synth.fingerprint(), "defects": list(defects), "n": n}
    taken = open_bank(out, run, append, need_bytes=pair_bytes(list(sources)))
    rng = np.random.default_rng(seed)
    pairs: list[SyntheticPair] = []
    reports = {}
    for defect in defects:
        made = synth.generate(n, defect=defect, generator=rng, **options)
        for pair, name in zip(made, _names(defect, taken), strict=False):
            pair.record["run_seed"] = seed  # a later --append with this seed would repeat the pair
            write_pair(out, pair, name, pair.record.get("product") or synth.product or "product", defect)
        reports[defect] = synth.last_report
        pairs += made
    return pairs, reports


def write_generated_sheet(path: Path, pairs: Sequence[SyntheticPair]) -> Path:
    """A contact sheet of source | generated | mask outline, one row per pair."""
    names = {p.record["source_image"] for p in pairs}
    sources = {name: read_image(name) for name in names if Path(name).is_file()}
    return save_contact_sheet(path, sheet_tiles(pairs, sources), columns=6)


def run(args: argparse.Namespace) -> int:
    torch.set_flush_denormal(True)
    synth = DefectSynthesizer.from_pretrained(args.model, device=args.device, dtype=args.dtype)
    out = Path(args.out)
    t0 = time.perf_counter()
    pairs, reports = generate_bank(
        synth,
        out,
        args.defects or synth.defects,
        args.n,
        args.seed,
        append=args.append,
        images=_sources(args.data, args.product or synth.product, args.skip_invalid),
        product=args.product,
        strength=args.strength,
        guidance=args.guidance,
        steps=args.sample_steps,
        mask_source=args.mask_source,
        quality_filter=not args.no_quality_filter,
        mode=args.mode,
        w_product=args.w_product,
        refiner=False if args.no_refiner else args.refiner,
        refiner_strength=args.refiner_strength,
        mask_quality=args.mask_quality,
        mask_rotation=args.mask_rotation,
        w_defect=args.w_defect,
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        threshold=args.threshold,
    )
    seconds = time.perf_counter() - t0
    for defect, report in reports.items():
        print(f"{defect}: {report.get('accepted', 0)} pairs, quality filter {json.dumps(report)}")
    sheet = write_generated_sheet(out / CONTACT_SHEET, pairs)
    print(
        f"wrote {len(pairs)} pairs to {out} in {seconds:.1f} s "
        f"({len(pairs) / seconds:.2f} pairs/s); contact sheet {sheet}"
    )
    return 0
