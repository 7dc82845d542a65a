"""Fitting in several processes (``accelerate launch``) on the one-process code path.

The fit loop swaps the UNet's attention processors to capture cross-attention maps, which a
``DistributedDataParallel`` wrapper would hide, so the models are never wrapped. Instead every
process starts from the same weights (the LoRA matrices are drawn from the fit's seed before any
process-specific draw), draws its own batches, noise and dropout from its own seed
(``rank_seed``: process 0 keeps the fit's seed, so one process is exactly the one-process run), and
before each optimizer step the gradients of what trains are averaged over the processes
(``average_gradients``: one all-reduce of one flat buffer). Every process then takes the same step
and the weights stay equal everywhere; the effective batch is ``batch_size`` times the processes.
In one process every function here returns at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from accelerate import Accelerator

__all__ = ["average_gradients", "mean_over_processes", "rank_seed"]


def rank_seed(seed: int, rank: int) -> int:
    """The seed of process ``rank``'s random streams: ``seed`` itself for process 0."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0] % 2**63)


def average_gradients(accelerator: Accelerator, params: Sequence[torch.nn.Parameter]) -> None:
    """Replace each parameter's gradient by its mean over the processes (missing ones count as 0)."""
    if accelerator.num_processes == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    flat = accelerator.reduce(flat, reduction="mean")
    offset = 0
    for param, grad in zip(params, grads, strict=True):
        n = grad.numel()
        param.grad = flat[offset : offset + n].view_as(grad).to(grad.dtype)
        offset += n


def mean_over_processes(accelerator: Accelerator, value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over the processes (so a NaN anywhere stops every process at once)."""
    if accelerator.num_processes == 1:
        return value
    return accelerator.reduce(value.detach().float().reshape(1), reduction="mean")[0]
