"""GPU benchmark: LoRA fine-tuning and generation of SD 1.5 inpainting (512 px) and SDXL inpainting
(1024 px) through the product's own code path (load_backbone -> DefectSynthesizer.fit -> generate).

Speed does not depend on weight values, so with no checkpoint at hand the full-size architectures are
built from their published configs with random weights, saved in the diffusers layout and loaded back
with ``augment.models.pretrained.load_backbone`` (the real loading code), in ``--dtype`` on ``--device``.
Each family reports: LoRA fit steps/s at ``--batch-size`` (default 4) at its native size, the minutes
1,000 such steps take, peak GPU memory of the fit; generated pairs/s with their peak memory; and both
as a fraction of the card's bf16 matmul peak (the FLOPs of one step and one pair counted by torch's
``FlopCounterMode``, the peak measured here with 8192^3 bf16 matmuls). The issue's targets: 1,000
steps at batch 4, 1024 px, under 10 minutes on one H100; SDXL LoRA within 16 GB.

Runs only where CUDA is present; ``--tiny`` shrinks every config so the script itself runs end to
end on a CPU (its numbers then say nothing about a GPU).

    python benchmarks/gpu_pretrained_bench.py --device cuda --dtype bf16 --gradient-checkpointing \
        [--family sd sdxl] [--steps 20] [--batch-size 4] [--pairs 4] [--out results.json]
    python benchmarks/gpu_pretrained_bench.py --tiny      # CPU smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import string
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionXLInpaintPipeline,
    UNet2DConditionModel,
)
from torch.utils.flop_counter import FlopCounterMode
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from augment.data.demo_data import make_demo_dataset
from augment.devices import resolve_device, resolve_dtype
from augment.models.pretrained import load_backbone
from augment.synth.synthesizer import DefectSynthesizer

VOCAB = 49408
SCHEDULER = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1}


def tokenizer(size: int) -> CLIPTokenizer:
    """A CLIP tokenizer with ``size`` entries (characters + filler words), built offline."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in string.printable.strip():
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    while len(vocab) < size:
        vocab[f"w{len(vocab)}</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def text_encoder(hidden: int, layers: int, heads: int, vocab: int, projection: bool) -> torch.nn.Module:
    config = CLIPTextConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, max_position_embeddings=77, projection_dim=hidden,
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_act="gelu",
    )  # fmt: skip
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def vae(tiny: bool) -> AutoencoderKL:
    blocks = (32, 64) if tiny else (128, 256, 512, 512)
    return AutoencoderKL(
        block_out_channels=blocks, latent_channels=4, layers_per_block=1 if tiny else 2,
        down_block_types=("DownEncoderBlock2D",) * len(blocks), up_block_types=("UpDecoderBlock2D",) * len(blocks),
        norm_num_groups=32,
    )  # fmt: skip


def sd_inpaint(tiny: bool) -> StableDiffusionInpaintPipeline:
    """SD 1.5 inpainting: UNet 320-640-1280-1280, 9 input channels, CLIP ViT-L/14 text encoder."""
    vocab = 512 if tiny else VOCAB
    unet = UNet2DConditionModel(
        sample_size=16 if tiny else 64, in_channels=9, out_channels=4,
        block_out_channels=(32, 64) if tiny else (320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D") if tiny
        else ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D") if tiny
        else ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=32 if tiny else 768, attention_head_dim=8, layers_per_block=1 if tiny else 2,
    )  # fmt: skip
    return StableDiffusionInpaintPipeline(
        unet=unet, vae=vae(tiny), scheduler=DDPMScheduler(**SCHEDULER),
        text_encoder=text_encoder(32 if tiny else 768, 2 if tiny else 12, 4 if tiny else 12, vocab, False),
        tokenizer=tokenizer(vocab), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip


def sdxl_inpaint(tiny: bool) -> StableDiffusionXLInpaintPipeline:
    """SDXL inpainting: UNet 320-640-1280 with 1/2/10 transformer layers, CLIP-L + OpenCLIP bigG."""
    vocab = 512 if tiny else VOCAB
    dims = (32, 32) if tiny else (768, 1280)
    unet = UNet2DConditionModel(
        sample_size=16 if tiny else 128, in_channels=9, out_channels=4,
        block_out_channels=(32, 64) if tiny else (320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D") if tiny
        else ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D") if tiny
        else ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2) if tiny else (1, 2, 10),
        attention_head_dim=(2, 4) if tiny else (5, 10, 20), use_linear_projection=True,
        cross_attention_dim=sum(dims), addition_embed_type="text_time",
        addition_time_embed_dim=8 if tiny else 256,
        projection_class_embeddings_input_dim=(6 * 8 + 32) if tiny else 2816,
        layers_per_block=1 if tiny else 2,
    )  # fmt: skip
    return StableDiffusionXLInpaintPipeline(
        unet=unet, vae=vae(tiny), scheduler=DDPMScheduler(**SCHEDULER),
        text_encoder=text_encoder(dims[0], 2 if tiny else 12, 4 if tiny else 12, vocab, False),
        text_encoder_2=text_encoder(dims[1], 2 if tiny else 32, 4 if tiny else 20, vocab, True),
        tokenizer=tokenizer(vocab), tokenizer_2=tokenizer(vocab),
    )  # fmt: skip


def matmul_peak(device: torch.device, dtype: torch.dtype, side: int, repeats: int = 20) -> float:
    """FLOP/s of ``side``^3 matmuls in ``dtype`` on ``device``: the card's practical matmul peak."""
    a, b = (torch.randn(side, side, device=device, dtype=dtype) for _ in range(2))
    a @ b  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * side**3 * repeats / (time.perf_counter() - start)


def counted_flops(run: Callable[[], Any]) -> int:
    """FLOPs torch counts while ``run()`` runs (matmuls, convolutions, attention)."""
    counter = FlopCounterMode(display=False)
    with counter:
        run()
    return int(counter.get_total_flops())


def timed(run: Callable[[], Any], device: torch.device) -> tuple[float, float]:
    """(seconds, peak GiB of GPU memory; NaN on a CPU) of ``run()``."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    start = time.perf_counter()
    run()
    _sync(device)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return time.perf_counter() - start, peak


def bench(family: str, args: argparse.Namespace, device: torch.device, work: Path, peak: float) -> dict:
    """One family's fit and generation figures (see the module docstring)."""
    dtype = resolve_dtype(args.dtype, device)
    folder = work / family
    (sd_inpaint if family == "sd" else sdxl_inpaint)(args.tiny).save_pretrained(folder)
    synth = DefectSynthesizer(backbone=load_backbone(str(folder), dtype=dtype, device=device))
    side = synth.config.resolution  # the family's native size (512 / 1024; tiny: 32)
    data = make_demo_dataset(work / f"data-{family}", n_good_train=8, n_good_test=1, n_per_defect=3,
                             size=max(side, 64), seed=0, progress=False)  # fmt: skip
    options = {"gradient_checkpointing": args.gradient_checkpointing, "adam_8bit": args.adam_8bit}
    fit = dict(
        defects=["scratch"], batch_size=args.batch_size, progress=False, prior_steps=0, options=options
    )
    synth.fit(data, steps=1, **fit)  # warm-up: adds the LoRA and tokens, compiles kernels
    step_flops = counted_flops(lambda: synth.fit(data, steps=1, **fit))
    seconds, fit_peak = timed(lambda: synth.fit(data, steps=args.steps, **fit), device)
    steps_per_s = args.steps / seconds
    gen = dict(defect="scratch", steps=args.sample_steps, guidance=5.0, quality_filter=False, progress=False)
    synth.generate(1, generator=0, **gen)  # warm-up
    pair_flops = counted_flops(lambda: synth.generate(1, generator=1, **gen))
    seconds, gen_peak = timed(lambda: synth.generate(args.pairs, generator=2, **gen), device)
    pairs_per_s = args.pairs / seconds
    return {
        "family": family, "resolution": side, "dtype": args.dtype, "batch_size": args.batch_size,
        "gradient_checkpointing": args.gradient_checkpointing, "fit_steps_per_s": steps_per_s,
        "minutes_per_1000_steps": 1000 / steps_per_s / 60, "fit_peak_gib": fit_peak,
        "fit_fraction_of_matmul_peak": step_flops * steps_per_s / peak, "pairs_per_s": pairs_per_s,
        "sample_steps": args.sample_steps, "generate_peak_gib": gen_peak,
        "generate_fraction_of_matmul_peak": pair_flops * pairs_per_s / peak,
        "fit_tflop_per_step": step_flops / 1e12, "generate_tflop_per_pair": pair_flops / 1e12,
    }  # fmt: skip


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _line(row: dict) -> str:
    return (
        f"{row['family']} inpainting @ {row['resolution']} px, {row['dtype']}, LoRA r8 + tokens, batch "
        f"{row['batch_size']}: fit {row['fit_steps_per_s']:.2f} steps/s ({row['minutes_per_1000_steps']:.1f} min "
        f"per 1,000 steps, peak {row['fit_peak_gib']:.1f} GiB, {100 * row['fit_fraction_of_matmul_peak']:.0f}% of "
        f"the bf16 matmul peak); generate {row['pairs_per_s']:.3f} pairs/s at {row['sample_steps']} steps with "
        f"guidance (peak {row['generate_peak_gib']:.1f} GiB, "
        f"{100 * row['generate_fraction_of_matmul_peak']:.0f}% of the peak)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", nargs="+", default=["sd", "sdxl"], choices=["sd", "sdxl"])
    parser.add_argument("--steps", type=int, default=20, help="timed LoRA steps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=4, help="timed generated pairs")
    parser.add_argument("--sample-steps", type=int, default=25)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--dtype", default=None, choices=["fp32", "bf16", "fp16"], help="default: bf16 on a GPU"
    )
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--adam-8bit", action="store_true", help="bitsandbytes' 8-bit AdamW")
    parser.add_argument("--tiny", action="store_true", help="shrunk configs: smoke test on CPU")
    parser.add_argument("--out", default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device.type != "cuda" and not args.tiny:
        print("not run: no CUDA device (use --tiny for a CPU smoke test of the script)")
        return 0
    args.dtype = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    torch.set_flush_denormal(True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = matmul_peak(device, torch.bfloat16, 512 if args.tiny else 8192)
    print(f"device {name}, torch {torch.__version__}, measured bf16 matmul peak {peak / 1e12:.1f} TFLOP/s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.family:
            rows.append(bench(family, args, device, Path(tmp), peak))
            print(_line(rows[-1]), flush=True)
    if args.out:
        record = {
            "device": name,
            "torch": torch.__version__,
            "bf16_matmul_peak_tflops": peak / 1e12,
            "rows": rows,
        }
        Path(args.out).write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
