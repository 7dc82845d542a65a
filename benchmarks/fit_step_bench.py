"""Seconds per training step of the embedded default's UNet in fp32 and in bf16 autocast, with
torch's own attention kernel and with the math kernel that bf16 fits on a CPU use
(``augment.synth.precision.attention_kernel``), and of AdamW per step, per-tensor and fused.

A bare step (forward, loss, backward on a random batch of the fit's shape: 8 windows of 64 px,
7 input channels), so only the precision and the kernels differ; the conditions are interleaved over
``--rounds`` rounds and the medians printed, since timings on a shared machine swing.
``--profile`` also prints the operators taking most time in the bf16 step with torch's kernel::

    python benchmarks/fit_step_bench.py --threads 1 --rounds 4 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from augment.models.embedded import build_unet
from augment.synth.config import SynthConfig

CONDITIONS: dict[str, tuple[bool, Callable[[], AbstractContextManager[None]]]] = {
    "fp32": (False, nullcontext),
    "bf16, torch's attention kernel": (True, nullcontext),
    "bf16, math attention kernel (the library's)": (True, lambda: sdpa_kernel([SDPBackend.MATH])),
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=4, help="interleaved rounds (medians are printed)")
    p.add_argument("--steps", type=int, default=4, help="timed steps per condition and round")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--profile", action="store_true", help="top operators of the bf16 step, torch's kernel")
    return p.parse_args()


def timed(step: Callable[[], object], steps: int) -> float:
    """Seconds per call of ``step`` over ``steps`` calls, after one untimed call."""
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    config = SynthConfig()
    torch.manual_seed(0)
    unet = build_unet(config.resolution, config.channels)
    side, n = config.resolution, args.batch
    x, t = torch.randn(n, 7, side, side), torch.randint(0, 1000, (n,))
    text = torch.randn(n, 16, unet.config.cross_attention_dim)

    def train_step(bf16: bool, kernel: Callable[[], AbstractContextManager[None]]) -> None:
        with kernel(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = unet(x, t, encoder_hidden_states=text).sample
        out.float().pow(2).mean().backward()
        unet.zero_grad(set_to_none=True)

    for p in unet.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    optimizers = {
        "AdamW per tensor": torch.optim.AdamW(unet.parameters(), 1e-3, foreach=False),
        "AdamW fused": torch.optim.AdamW(unet.parameters(), 1e-3, fused=True),
    }
    times: dict[str, list[float]] = {name: [] for name in [*CONDITIONS, *optimizers]}
    for _ in range(args.rounds):
        for name, (bf16, kernel) in CONDITIONS.items():
            times[name].append(timed(lambda b=bf16, k=kernel: train_step(b, k), args.steps))
        for p in unet.parameters():
            p.grad = torch.randn_like(p) * 1e-3
        for name, opt in optimizers.items():
            times[name].append(timed(opt.step, 20))
    medians = {name: statistics.median(v) for name, v in times.items()}
    fp32 = medians["fp32"]
    for name, value in medians.items():
        ratio = f"  ({fp32 / value:.2f}x fp32)" if name in CONDITIONS else ""
        print(f"{name:45s} {value * 1e3:8.1f} ms per step{ratio}")
    print(json.dumps({"threads": args.threads, "batch": n, "side": side, "median_s": medians}))
    if args.profile:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                train_step(True, nullcontext)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


if __name__ == "__main__":
    main()
