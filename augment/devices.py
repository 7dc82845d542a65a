"""Where models run and in what precision: ``--device`` and ``--dtype``, chosen in one place.

``resolve_device("auto")`` is the GPU when torch sees one (under ``accelerate launch``, the GPU of
this process's ``LOCAL_RANK``) and the CPU otherwise; ``"cuda"`` / ``"cuda:N"`` insist on a GPU and
say so when there is none. ``resolve_dtype`` turns ``fp32`` / ``bf16`` / ``fp16`` into a torch
dtype and refuses fp16 on a CPU (torch's CPU kernels for it are slow or missing and a grad scaler
needs CUDA); ``auto`` is bf16 where the hardware computes it natively (``native_bf16``: a CUDA GPU
that supports it, a CPU with AMX or AVX512-BF16) and fp32 elsewhere, where torch would emulate bf16
more slowly than fp32. Every command that runs a model (fit, generate, export, benchmark, evaluate) and the
Python API (``device=``, ``dtype=``) go through these two functions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import torch

__all__ = [
    "DEVICE_CHOICES",
    "DTYPES",
    "DTYPE_CHOICES",
    "dtype_name",
    "is_auto_dtype",
    "native_bf16",
    "resolve_device",
    "resolve_dtype",
]

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_CHOICES = ("auto", *DTYPES)
# torch's own CPU feature probes (private, so looked up defensively: a torch without them says no)
_CPU_BF16_PROBES = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
_SPEC = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


def _local_rank() -> int:
    """This process's GPU index under a launcher (``LOCAL_RANK``), 0 otherwise."""
    value = os.environ.get("LOCAL_RANK", "").strip()
    return int(value) if value.isdigit() else 0


def resolve_device(
    spec: str | torch.device | None = "auto",
    cuda_available: Callable[[], bool] | None = None,
    cuda_count: Callable[[], int] | None = None,
) -> torch.device:
    """The torch device for ``spec`` (auto / cpu / cuda / cuda:N, or a torch.device; None: auto).

    ``cuda_available`` / ``cuda_count`` default to torch's own queries, read at call time.
    """
    available = cuda_available or torch.cuda.is_available
    count = cuda_count or torch.cuda.device_count
    text = "auto" if spec is None else str(spec)
    match = _SPEC.match(text.strip().lower())
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ValueError(f"device must be {DEVICE_CHOICES}, got {spec!r}.")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu" or (kind == "auto" and not available()):
        return torch.device("cpu")
    if not available():
        raise ValueError(
            f"device={text!r} asks for a GPU, but torch sees none (torch {torch.__version__}, CUDA "
            f"build {torch.version.cuda}); use device='cpu' or 'auto'."
        )
    number = int(index) if index is not None else _local_rank() % max(1, count())
    if number >= count():
        raise ValueError(f"device={text!r}, but torch sees {count()} GPU(s), numbered from 0.")
    return torch.device("cuda", number)


def native_bf16(device: torch.device | str) -> bool:
    """True where ``device`` computes bf16 in hardware: a CUDA GPU that supports it, or a CPU with
    AMX or AVX512-BF16 (there a bf16 fit of the embedded default runs 1.3 times faster than fp32)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in _CPU_BF16_PROBES)
    return False


def is_auto_dtype(name: str | torch.dtype | None) -> bool:
    """Whether ``name`` asks for "auto" (any case, spaces around): the hardware picks the precision."""
    return isinstance(name, str) and name.strip().lower() == "auto"


def resolve_dtype(name: str | torch.dtype | None, device: torch.device | str = "cpu") -> torch.dtype:
    """The torch dtype for ``name`` (fp32 / bf16 / fp16, auto, or a torch dtype; None: fp32) on
    ``device``; auto: bf16 where ``native_bf16(device)``, else fp32."""
    if name is None:
        return torch.float32
    if is_auto_dtype(name):
        return torch.bfloat16 if native_bf16(device) else torch.float32
    dtype = name if isinstance(name, torch.dtype) else DTYPES.get(str(name).strip().lower())
    if dtype is None or dtype not in DTYPES.values():
        raise ValueError(f"dtype must be one of {', '.join(DTYPE_CHOICES)}, got {name!r}.")
    if dtype == torch.float16 and torch.device(device).type != "cuda":
        raise ValueError(
            f"dtype='fp16' needs a CUDA GPU, but the device is {device}; use dtype='bf16' (works on "
            "CPU) or 'fp32'."
        )
    return dtype


def dtype_name(dtype: torch.dtype) -> str:
    """The short name (fp32 / bf16 / fp16) of a torch dtype, as the flags spell it."""
    for name, value in DTYPES.items():
        if value == dtype:
            return name
    raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype}.")
