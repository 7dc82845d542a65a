"""GPU benchmark: LoRA fine-tuning steps/s and generated pairs/s for SD 1.5 inpainting (512 px) and SDXL
inpainting (1024 px), with peak memory, through the product's own code path (load_backbone -> fit -> generate).

Speed does not depend on weight values, so with no checkpoint at hand the full-size architectures are
built from their published configs with random weights, saved in the diffusers layout and loaded back
with ``augment.models.pretrained.load_backbone`` (the real loading code). Runs only where CUDA is present;
``--tiny`` shrinks every config so the script itself can be smoke-tested on a CPU.

    python benchmarks/gpu_pretrained_bench.py [--family sd sdxl] [--steps 20] [--pairs 4] [--tiny]
"""

from __future__ import annotations

import argparse
import os
import string
import sys
import tempfile
import time
from pathlib import Path

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
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from augment.data.demo_data import make_demo_dataset
from augment.models.pretrained import load_backbone
from augment.synth.synthesizer import DefectSynthesizer

VOCAB = 49408


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
        unet=unet, vae=vae(tiny), scheduler=DDPMScheduler(beta_schedule="scaled_linear", beta_end=0.012),
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
        unet=unet, vae=vae(tiny), scheduler=DDPMScheduler(beta_schedule="scaled_linear", beta_end=0.012),
        text_encoder=text_encoder(dims[0], 2 if tiny else 12, 4 if tiny else 12, vocab, False),
        text_encoder_2=text_encoder(dims[1], 2 if tiny else 32, 4 if tiny else 20, vocab, True),
        tokenizer=tokenizer(vocab), tokenizer_2=tokenizer(vocab),
    )  # fmt: skip


def bench(family: str, args: argparse.Namespace, device: str, work: Path) -> None:
    resolution = (64 if family == "sd" else 128) if args.tiny else (512 if family == "sd" else 1024)
    folder = work / family
    (sd_inpaint if family == "sd" else sdxl_inpaint)(args.tiny).save_pretrained(folder)
    data = make_demo_dataset(work / f"data-{family}", n_good_train=8, n_good_test=1, n_per_defect=3,
                             size=resolution, seed=0, progress=False)  # fmt: skip
    synth = DefectSynthesizer(backbone=load_backbone(str(folder), device=device), resolution=resolution)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    synth.fit(data, defects=["scratch"], steps=1, batch_size=args.batch_size, progress=False)  # warm-up
    start = time.perf_counter()
    synth.fit(data, defects=["scratch"], steps=args.steps, batch_size=args.batch_size, progress=False)
    _sync(device)
    fit_rate = args.steps / (time.perf_counter() - start)
    fit_peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    kwargs = dict(defect="scratch", steps=args.sample_steps, quality_filter=False, progress=False)
    synth.generate(1, generator=0, **kwargs)  # warm-up
    start = time.perf_counter()
    synth.generate(args.pairs, generator=1, **kwargs)
    _sync(device)
    gen_rate = args.pairs / (time.perf_counter() - start)
    gen_peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    print(f"{family} inpainting @ {resolution}px, fp32, LoRA r8 + tokens, batch {args.batch_size}: "
          f"fit {fit_rate:.2f} steps/s (peak {fit_peak:.1f} GiB); generate {gen_rate:.3f} pairs/s "
          f"at {args.sample_steps} DDIM steps with CFG (peak {gen_peak:.1f} GiB)", flush=True)  # fmt: skip


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", nargs="+", default=["sd", "sdxl"], choices=["sd", "sdxl"])
    parser.add_argument("--steps", type=int, default=20, help="timed LoRA steps")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--pairs", type=int, default=4, help="timed generated pairs")
    parser.add_argument("--sample-steps", type=int, default=25)
    parser.add_argument("--tiny", action="store_true", help="shrunk configs: smoke test on CPU")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.tiny:
        print("not run: no CUDA device (use --tiny for a CPU smoke test of the script)")
        return 0
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_flush_denormal(True)
    print(f"device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.family:
            bench(family, args, device, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
