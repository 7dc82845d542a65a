"""A fit's resumable state, written atomically every ``checkpoint_every`` steps and read by ``resume``.

A resumed fit must take exactly the steps an uninterrupted one would, so a checkpoint holds the
trained parameters (only those: a pretrained backbone's checkpoint is its adapters and token rows,
not gigabytes of frozen UNet), their moving average, the optimizer, the step, the losses so far
and every random state the steps draw from: the batch generator (numpy), the noise generator
(torch), torch's global CPU and CUDA generators (LoRA dropout draws from them) and fp16's
gradient-scaler state (under ``accelerate launch``, every process's random streams). ``seeded_global_rng`` seeds the global generators from the fit's seed for
the length of the fit and gives the caller's back afterwards, so ``fit(seed=0)`` is the same run
whatever the global seed was, and a fit leaves the caller's random stream untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.training_utils import EMAModel

from augment.data.outputs import writing
from augment.files import CHECKPOINT
from augment.models.backbone import Backbone
from augment.synth.options import FitConfig

__all__ = [
    "LoopState",
    "capture",
    "checkpoint_path",
    "restore",
    "rng_state",
    "save_checkpoint",
    "seeded_global_rng",
    "trainable_state",
]

MODULES = ("unet", "text_encoder", "text_encoder_2")


@dataclass
class LoopState:
    """The live objects of one fit loop whose state a checkpoint holds."""

    backbone: Backbone
    opt: torch.optim.Optimizer
    rng: np.random.Generator
    gen: torch.Generator
    ema: EMAModel | None = None
    scaler: Any | None = None  # torch's GradScaler under fp16, else None
    rank: int = 0  # this process under accelerate launch (augment.synth.ranks)


def _cuda_index(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []


@contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """torch's global CPU (and ``device``'s CUDA) generator seeded with ``seed`` inside, restored after."""
    with torch.random.fork_rng(devices=_cuda_index(device)):
        torch.manual_seed(seed)
        yield


def _global_rng(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    for index in _cuda_index(device):
        state["cuda"] = torch.cuda.get_rng_state(index)
    return state


def _set_global_rng(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    for index in _cuda_index(device):
        if "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], index)


def trainable_state(backbone: Backbone) -> dict[str, dict[str, torch.Tensor]]:
    """The parameters that train, per model: what a checkpoint must keep of the weights."""
    out = {}
    for name in MODULES:
        module = getattr(backbone, name)
        if module is not None:
            out[name] = {k: p.detach().clone() for k, p in module.named_parameters() if p.requires_grad}
    return out


WHAT = {"unet": "a UNet", "text_encoder": "a text encoder", "text_encoder_2": "a second text encoder (SDXL)"}


def _module(backbone: Backbone, name: str, path: Path) -> torch.nn.Module:
    """The backbone's model ``name``; a ValueError when the checkpoint's backbone had it and this one not."""
    module = getattr(backbone, name, None)
    if module is None:
        raise ValueError(
            f"checkpoint {path} has {WHAT.get(name, name)} but this {backbone.family!r} backbone has "
            "none; resume with the backbone the checkpoint was written from."
        )
    return module


def _load_trainable(backbone: Backbone, state: dict[str, dict[str, torch.Tensor]], path: Path) -> None:
    for name, tensors in state.items():
        params = dict(_module(backbone, name, path).named_parameters())
        unknown = sorted(set(tensors) - set(params))
        if unknown:
            raise ValueError(
                f"checkpoint {path} has weights {unknown[:3]} that the {name} does not; resume with the "
                "backbone and LoRA settings the checkpoint was written with."
            )
        with torch.no_grad():
            for key, value in tensors.items():
                params[key].copy_(value)


def rng_state(loop: LoopState) -> dict[str, Any]:
    """This process's random streams: batches (numpy), noise (torch), dropout (torch's global)."""
    return {
        "numpy_rng": loop.rng.bit_generator.state,
        "torch_rng": loop.gen.get_state(),
        "global_rng": _global_rng(loop.backbone.device),
    }


def _set_rng_state(loop: LoopState, state: dict[str, Any]) -> None:
    loop.rng.bit_generator.state = state["numpy_rng"]
    loop.gen.set_state(state["torch_rng"])
    if state.get("global_rng") is not None:
        _set_global_rng(state["global_rng"], loop.backbone.device)


def capture(
    loop: LoopState, step: int, losses: list[float], cfg: FitConfig, ranks: list[dict] | None = None
) -> dict[str, Any]:
    """Everything a resumed fit needs after ``step`` steps, ready for ``torch.save``; ``ranks``: every
    launched process's ``rng_state``, in rank order."""
    return {
        "step": step,
        "ema": None if loop.ema is None else loop.ema.state_dict(),
        "trainable": trainable_state(loop.backbone),
        "optimizer": loop.opt.state_dict(),
        **rng_state(loop),
        "ranks": ranks,
        "scaler": None if loop.scaler is None else loop.scaler.state_dict(),
        "losses": list(losses),
        "config": asdict(cfg),
    }


def _load_whole(backbone: Backbone, state: dict[str, Any], path: Path) -> None:
    """Checkpoints written before only the trained weights were kept hold whole state dicts."""
    for name in MODULES:
        if state.get(name) is not None:
            _module(backbone, name, path).load_state_dict(state[name])


def restore(path: Path, loop: LoopState) -> tuple[int, list[float]]:
    """Put the checkpoint at ``path`` back into ``loop``; returns (step, losses so far)."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if loop.ema is not None and state.get("ema") is not None:
        loop.ema.load_state_dict(state["ema"])  # read onto the CPU: back beside the weights it averages
        loop.ema.to(device=loop.backbone.device)
    _load_whole(loop.backbone, state, path)
    _load_trainable(loop.backbone, state.get("trainable", {}), path)
    loop.opt.load_state_dict(state["optimizer"])
    _set_rng_state(loop, state["ranks"][loop.rank] if state.get("ranks") else state)
    if loop.scaler is not None and state.get("scaler") is not None:
        loop.scaler.load_state_dict(state["scaler"])
    return int(state["step"]), list(state["losses"])


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` with torch.save to a temporary file, then rename (never a torn checkpoint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with writing(path, "The last complete checkpoint is kept: resume with resume=True."):
        torch.save(state, tmp)
        os.replace(tmp, path)


def checkpoint_path(checkpoint_dir: str | Path | None, resume: bool) -> Path | None:
    """Where the checkpoint goes; with ``resume`` it must already be there."""
    ckpt = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    if resume and (ckpt is None or not ckpt.is_file()):
        raise ValueError(
            f"resume=True but there is no checkpoint at {ckpt}; run fit once with a "
            "checkpoint folder first, or drop resume."
        )
    return ckpt
