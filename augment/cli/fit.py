"""``defect-synth fit``: fine-tune a synthesizer on the few shots of each defect type and save it.

The output folder is checked before any work: a folder (not a file), writable, empty or holding
an earlier fit's output (never a dataset or anything else), with room for the first checkpoint.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from augment.cli.common import (
    DEVICE_FLAGS,
    add_bit_depth,
    add_device,
    add_skip_invalid,
    add_threads,
    index_from_args,
)
from augment.data.outputs import check_location, refuse_foreign
from augment.data.split import FewShotSplit, load_split, make_split
from augment.devices import resolve_device, resolve_dtype
from augment.files import CHECKPOINTS, VALIDATION
from augment.models.backbone import Backbone
from augment.models.lora import LoraSettings
from augment.models.pretrained import load_backbone, load_refiner
from augment.processes import is_main_process
from augment.synth.io import is_fit_output
from augment.synth.options import PRECISIONS
from augment.synth.precision import precision_name, settled_dtype
from augment.synth.synthesizer import DefectSynthesizer

# library argument spellings in error messages -> this command's flags
FLAGS = {
    "mixed_precision='fp16'": "--mixed-precision fp16",
    "mixed_precision='bf16'": "--mixed-precision bf16",
    "mixed_precision='no'": "--mixed-precision no",
    "adam_8bit=True": "--adam-8bit",
    "leave adam_8bit off": "drop --adam-8bit",
    "text_encoder=False": "no --text-encoder-lora",
    "resume=True": "--resume",
    "drop resume": "drop --resume",
    "skip_invalid=True": "--skip-invalid",
    "(lr=": "(--lr ",
    "batch_size must": "--batch-size must",
    "checkpoint_every must": "--checkpoint-every must",
    "lr must be a positive": "--lr must be a positive",
    "give only dtype": "give only --dtype",
    **DEVICE_FLAGS,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="dataset folder (MVTec AD or generic layout)")
    parser.add_argument(
        "--split",
        help="instead of --data: a saved split JSON (a benchmark's OUT/split.json or one setting's "
        "OUT/split-Kshots.json), to fit on exactly the shots that split trains on",
    )
    parser.add_argument("--out", required=True, help="folder to save the fitted synthesizer in")
    parser.add_argument(
        "--defect", action="append", dest="defects", help="fit only this defect type (repeat)"
    )
    parser.add_argument("--product", help="the product to fit in a multi-product folder")
    parser.add_argument(
        "--shots", type=int, default=None, help="K shots per defect type (default: first third)"
    )
    parser.add_argument("--steps", type=int, default=1000, help="training steps (default: 1000)")
    parser.add_argument(
        "--resolution",
        type=int,
        default=None,
        help="model window side in image pixels, at the image's own scale (default: 64 for the "
        "embedded model; a --backbone's native size: 512 for SD 1.5 / 2, 1024 for SDXL)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--backbone",
        default=None,
        help="diffusers checkpoint (hub id or local folder: SD 1.5/2.x, SDXL, inpainting) to fine-tune "
        "with LoRA + textual inversion (default: the embedded model trained from scratch)",
    )
    parser.add_argument(
        "--prior-steps",
        type=int,
        default=250,
        help="first steps on defect-free windows only, a surface prior (default: 250, at most a quarter)",
    )
    parser.add_argument(
        "--refiner",
        default=None,
        help="an SDXL refiner (hub id or folder) to fine-tune in the same run, with its own LoRA and "
        "tokens; generate then uses it as a second stage inside the mask",
    )
    parser.add_argument(
        "--class-embeddings",
        action="store_true",
        help="also condition the UNet on a learned class embedding per defect type (fed as class_labels, "
        "trained with the LoRA: the SD 1.5 cable setup)",
    )
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the same run from OUT/checkpoints (refused if it differs)",
    )
    add_skip_invalid(parser)
    add_bit_depth(parser)
    add_threads(parser)
    add_device(
        parser,
        "precision: a --backbone's weights are loaded in it and the forward passes run in it (fp16 "
        "needs a GPU); what trains stays float32 (default: auto, bf16 where the GPU or CPU computes it "
        "natively (AMX / AVX512-BF16), else fp32; --mixed-precision, when given, sets it instead)",
        dtype_default="auto",
    )
    _add_option_arguments(parser)
    _add_lora_arguments(parser)


def _add_option_arguments(parser: argparse.ArgumentParser) -> None:
    """The fit loop's options (augment.synth.options.TrainOptions)."""
    parser.add_argument(
        "--mixed-precision",
        choices=PRECISIONS,
        default="no",
        help="mixed precision through accelerate (fp16 needs CUDA; bf16 also works on CPU)",
    )
    parser.add_argument(
        "--gradient-accumulation-steps",
        type=int,
        default=1,
        metavar="K",
        help="micro-batches summed into each optimizer step (default: 1)",
    )
    parser.add_argument(
        "--gradient-checkpointing", action="store_true", help="recompute UNet activations (less memory)"
    )
    parser.add_argument(
        "--adam-8bit", action="store_true", help="bitsandbytes 8-bit AdamW (must be installed)"
    )
    parser.add_argument(
        "--min-snr-gamma",
        type=float,
        nargs="?",
        const=5.0,
        default=None,
        help="Min-SNR-gamma loss weighting (flag alone: gamma 5)",
    )
    parser.add_argument(
        "--validate-every",
        type=int,
        default=0,
        help="write OUT/validation/step_N.png every N steps (0: never)",
    )


def _add_lora_arguments(parser: argparse.ArgumentParser) -> None:
    """The adapters a pretrained --backbone trains (defaults: augment.models.lora.LoraSettings)."""
    group = parser.add_argument_group("LoRA (with --backbone)")
    group.add_argument("--lora-rank", type=int, default=None, help="adapter rank (default: 8)")
    group.add_argument("--lora-alpha", type=float, default=None, help="adapter alpha (default: 16)")
    group.add_argument("--lora-dropout", type=float, default=None, help="adapter dropout (default: 0.1)")
    group.add_argument(
        "--text-encoder-lora", action="store_true", help="also train adapters on the text encoder(s)"
    )


def lora_settings(args: argparse.Namespace) -> LoraSettings | None:
    """The LoRA settings the flags ask for; None when no LoRA flag is given."""
    given = {
        "rank": args.lora_rank,
        "alpha": args.lora_alpha,
        "dropout": args.lora_dropout,
        "text_encoder": args.text_encoder_lora or None,
    }
    chosen = {k: v for k, v in given.items() if v is not None}
    if not chosen:
        return None
    if not args.backbone:
        flags = ", ".join(f"--{'text-encoder-lora' if k == 'text_encoder' else 'lora-' + k}" for k in chosen)
        raise ValueError(
            f"{flags} set the adapters of a pretrained --backbone; the embedded default trains its "
            "whole UNet. Add --backbone, or drop them."
        )
    return LoraSettings(**chosen)


def checkpoint_bytes(backbone: Backbone) -> int:
    """Room a checkpoint needs: the trained weights with their two Adam moments, and the saved copy."""
    modules = (backbone.unet, backbone.text_encoder, backbone.text_encoder_2)
    weights = sum(p.numel() * p.element_size() for m in modules if m is not None for p in m.parameters())
    return 4 * weights


def _split(args: argparse.Namespace) -> FewShotSplit:
    """The split to fit on: the saved ``--split`` as it is, or a new one of ``--data``."""
    if (args.data is None) == (args.split is None):
        raise ValueError(
            "give the dataset as --data DIR (a new first-third or --shots split) or as --split "
            f"FILE (a saved split), exactly one of them; got --data {args.data} and --split {args.split}."
        )
    if args.split is None:
        return make_split(index_from_args(args), shots=args.shots, seed=args.seed)
    fixed = {"--shots": args.shots, "--product": args.product, "--bit-depth": args.bit_depth}
    given = [flag for flag, value in fixed.items() if value is not None]
    given += ["--skip-invalid"] if args.skip_invalid else []
    if given:
        raise ValueError(
            f"--split fixes the shots, product, files and bit depth of the fit; drop {', '.join(given)} "
            "or fit from --data instead."
        )
    return load_split(args.split)


def run(args: argparse.Namespace) -> int:
    torch.set_flush_denormal(True)
    lora = lora_settings(args)
    what = "fit output folder"
    refuse_foreign(Path(args.out), what, is_fit_output, "Choose an empty or new folder for the model.")
    check_location(args.out, what)
    split = _split(args)
    device = resolve_device(args.device)
    dtype = settled_dtype(args.dtype, args.mixed_precision)  # auto yields to --mixed-precision, launchers
    backbone = None
    if args.backbone:
        backbone = load_backbone(args.backbone, dtype=resolve_dtype(dtype, device), device=device)
    synth = DefectSynthesizer(backbone=backbone, resolution=args.resolution, seed=args.seed).to(device)
    refiner = None
    if args.refiner:
        refiner = load_refiner(args.refiner, dtype=resolve_dtype(dtype, device), device=device)
    check_location(args.out, what, need_bytes=checkpoint_bytes(synth.backbone))
    t0 = time.perf_counter()
    losses = synth.fit(
        split,
        defects=args.defects,
        steps=args.steps,
        seed=args.seed,
        resume=args.resume,
        checkpoint_dir=Path(args.out) / CHECKPOINTS,
        checkpoint_every=args.checkpoint_every,
        batch_size=args.batch_size,
        lr=args.lr,
        options={
            "mixed_precision": args.mixed_precision,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "gradient_checkpointing": args.gradient_checkpointing,
            "adam_8bit": args.adam_8bit,
            "min_snr_gamma": args.min_snr_gamma,
            "validate_every": args.validate_every,
        },
        validation_dir=Path(args.out) / VALIDATION,
        lora=lora,
        prior_steps=args.prior_steps,
        dtype=dtype,
        class_embeddings=args.class_embeddings,
        refiner=refiner,
    )
    seconds = time.perf_counter() - t0
    if not is_main_process():  # accelerate launch: the processes trained one model; the first saves it
        return 0
    synth.save_pretrained(args.out)
    tail = losses[-20:]
    print(
        f"fitted {synth.product}: {', '.join(synth.defects)} in {seconds:.1f} s ({args.steps} steps in "
        f"{precision_name(dtype, args.mixed_precision, device)}, final loss "
        f"{sum(tail) / max(1, len(tail)):.4f}); saved to {args.out}"
    )
    return 0
