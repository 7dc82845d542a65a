"""A cheap, deterministic fingerprint of a model's weights: which model made a pair.

Hashing every byte of SDXL (about 10 GB) takes tens of seconds per call. Instead each tensor
contributes its name, dtype, shape, an exact integer checksum of its bit patterns (the wrapping
sum of its bytes read as 64-bit integers: integer addition does not depend on the order, the
thread count or the device, changing any one element changes it, and it runs at memory speed) and a strided sample of at most ``sample``
elements (so most reorderings show too). Only the checksum reads the whole tensor, on the tensor's
own device; just the sample and one integer travel to the CPU.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import torch

__all__ = ["WeightsFingerprint", "model_fingerprint", "tensor_digest"]

_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def tensor_digest(tensor: torch.Tensor, sample: int = 1024) -> bytes:
    """dtype, shape, integer checksum of the bits and a strided sample of ``tensor``, as bytes."""
    flat = tensor.detach().reshape(-1)
    bits = flat.view(_BITS[flat.element_size()])
    words = bits.view(torch.int64) if (bits.numel() * bits.element_size()) % 8 == 0 else bits
    total = int(words.sum(dtype=words.dtype)) if words.numel() else 0
    stride = max(1, -(-bits.numel() // sample))
    picked = bits[::stride].cpu().numpy().tobytes()
    return f"{tensor.dtype}|{tuple(tensor.shape)}|{total}|".encode() + picked


def model_fingerprint(modules: Iterable[torch.nn.Module | None], sample: int = 1024, length: int = 16) -> str:
    """Short hex fingerprint of the state dicts of ``modules`` (``None`` entries are skipped)."""
    h = hashlib.sha256()
    for index, module in enumerate(modules):
        if module is None:
            continue
        for name, tensor in sorted(module.state_dict().items()):
            h.update(f"{index}:{name}|".encode())
            h.update(tensor_digest(tensor, sample))
    return h.hexdigest()[:length]


class WeightsFingerprint:
    """``model_fingerprint`` of some modules, computed once and kept until one of their weights changes.

    The key is each tensor's storage and version counter, which in-place updates (a loaded state
    dict, a per-tensor optimizer step) bump, so a loader asking for every sample costs no checksum.
    torch's fused AdamW and writes through ``.data`` (an EMA's ``copy_to``) change weights without
    bumping it: whoever trains that way calls ``forget`` after (``fit`` does).
    """

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._value = ""

    def forget(self) -> None:
        """Drop the kept value: the next call computes the fingerprint afresh."""
        self._key, self._value = None, ""

    def __call__(self, modules: Sequence[torch.nn.Module | None]) -> str:
        key = tuple(
            (index, name, t.data_ptr(), t._version)
            for index, module in enumerate(modules)
            if module is not None
            for name, t in module.state_dict(keep_vars=True).items()
        )
        if key != self._key:
            self._key, self._value = key, model_fingerprint(modules)
        return self._value
