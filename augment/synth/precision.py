"""The precision of a fit: what its forward passes run in, and what trains in float32.

``fit(dtype=...)`` (``--dtype``) sets accelerate's autocast (``TrainOptions.mixed_precision``); by
default a backbone loaded in bf16 / fp16 trains under that autocast. The frozen weights stay in the
dtype they were loaded in (a pretrained UNet in bf16 takes half the memory), while everything that
trains (LoRA matrices, token rows, class embeddings, the embedded default's UNet) is kept in float32
for the length of the fit (``float32_training``): optimizer updates of 1e-4 vanish in bf16, and
fp16's gradient scaler refuses fp16 gradients. The text encoders, whose embedding rows train,
are float32 during the fit too. Afterwards every model is back in its own dtype, so the fitted
synthesizer equals one reloaded from its saved files.

On a CPU under bf16 autocast, attention runs on torch's math kernel (``attention_kernel``): the CPU
flash-attention kernel's bf16 backward takes 9.3 ms a call on the embedded UNet, 30 % of a bf16
step, which left bf16 steps only 1.21 times faster than float32, against 1.54 times with the math
kernel (``benchmarks/fit_step_bench.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from augment.devices import dtype_name, is_auto_dtype, resolve_dtype
from augment.models.backbone import Backbone
from augment.processes import under_launcher
from augment.synth.options import TrainOptions

__all__ = [
    "PRECISION_OF",
    "attention_kernel",
    "fit_precision",
    "float32_training",
    "precision_name",
    "settled_dtype",
]

PRECISION_OF = {torch.float32: "no", torch.bfloat16: "bf16", torch.float16: "fp16"}


def settled_dtype(dtype: str | torch.dtype | None, mixed_precision: str) -> str | torch.dtype | None:
    """``dtype``, or None where it is "auto" and the precision is already set: by a ``mixed_precision``
    other than "no", or by ``accelerate launch`` (its own ``--mixed_precision``, which every launched
    process shares and a fit may not change)."""
    return None if is_auto_dtype(dtype) and (mixed_precision != "no" or under_launcher()) else dtype


def precision_name(dtype: str | torch.dtype | None, mixed_precision: str, device: torch.device) -> str:
    """What a fit asked for with ``dtype`` and ``mixed_precision`` runs its forward passes in on
    ``device`` (fp32 / bf16 / fp16, as the flags spell it), for the people reading its output."""
    settled = settled_dtype(dtype, mixed_precision)
    if settled is not None:
        return dtype_name(resolve_dtype(settled, device))
    return "fp32" if mixed_precision == "no" else mixed_precision


def fit_precision(dtype: str | torch.dtype | None, options: TrainOptions, backbone: Backbone) -> TrainOptions:
    """``options`` with the autocast ``dtype`` asks for (None: the options', else the UNet's dtype;
    "auto": bf16 where the device computes it natively, unless something else sets it: see
    ``settled_dtype``)."""
    dtype = settled_dtype(dtype, options.mixed_precision)
    if dtype is None:
        if options.mixed_precision != "no":
            return options
        return replace(options, mixed_precision=PRECISION_OF.get(backbone.dtype, "no"))
    wanted = PRECISION_OF[resolve_dtype(dtype, backbone.device)]
    if options.mixed_precision not in ("no", wanted):
        raise ValueError(
            f"dtype={dtype!r} and mixed_precision={options.mixed_precision!r} ask for different "
            "precisions; give only dtype."
        )
    return replace(options, mixed_precision=wanted)


@contextmanager
def float32_training(backbone: Backbone, trained: Sequence[torch.nn.Parameter]) -> Iterator[None]:
    """Inside: the text encoders and the ``trained`` parameters in float32; after: their own dtypes."""
    encoders = [m for m in (backbone.text_encoder, backbone.text_encoder_2) if m is not None]
    encoder_dtypes = [next(m.parameters()).dtype for m in encoders]
    param_dtypes = [p.dtype for p in trained]
    for module in encoders:
        module.float()
    with torch.no_grad():
        for param in trained:
            param.data = param.data.float()
    try:
        yield
    finally:
        with torch.no_grad():
            for param, dtype in zip(trained, param_dtypes, strict=True):
                param.data = param.data.to(dtype)
        for module, dtype in zip(encoders, encoder_dtypes, strict=True):
            module.to(dtype)


def attention_kernel(device: torch.device, mixed_precision: str) -> AbstractContextManager[None]:
    """Where training attention should run: the math kernel on a CPU under bf16 autocast (see the
    module's docstring), torch's own choice everywhere else."""
    if device.type == "cpu" and mixed_precision == "bf16":
        return sdpa_kernel([SDPBackend.MATH])
    return nullcontext()
