"""The fit loop: inpainting fine-tuning on windows around the few-shot defects.

Each step draws a batch (``augment.synth.batches``) and takes the masked, attention-weighted loss
(``augment.synth.losses``). What trains is chosen in one place (``prepare_trainable``): the whole
UNet of the embedded default, LoRA adapters of a pretrained one, and the placeholder-token rows.

Checkpoints (weights, optimizer, step, every random state) are written atomically every
``checkpoint_every`` steps, so ``resume=True`` reaches the same final weights as an uninterrupted
run. A NaN/inf loss stops training with ``TrainingDivergedError`` and leaves the last good checkpoint.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from augment.errors import TrainingDivergedError
from augment.files import CHECKPOINT
from augment.models.backbone import Backbone
from augment.models.lora import LoraSettings, add_lora, lora_parameters
from augment.models.tokens import add_placeholder_tokens, train_only_rows
from augment.synth.batches import TrainData, sample_batch
from augment.synth.losses import diffusion_loss
from augment.synth.options import FitConfig, autocast, check_device, grad_scaler, make_optimizer

__all__ = ["prepare_trainable", "save_checkpoint", "train"]

logger = logging.getLogger(__name__)


def prepare_trainable(
    backbone: Backbone, token_ids: Sequence[int], lora: LoraSettings | None = None
) -> list[dict]:
    """Choose what trains, in one place: optimizer parameter groups (lr set by the caller).

    Embedded default: the whole UNet plus the placeholder-token embedding rows. Pretrained
    backbones: LoRA adapters (``augment.models.lora``, ``lora`` or the default settings) plus the token rows of
    every text encoder (SDXL: the tokens are added to the second one here too).
    """
    if backbone.text_encoder is None:
        raise ValueError("this backbone has no first text encoder (an SDXL refiner): fit the base model.")
    rows = [train_only_rows(backbone.text_encoder, token_ids)]
    if backbone.family == "embedded":
        backbone.unet.requires_grad_(True)
        adapted = [p for p in backbone.unet.parameters() if p.requires_grad]
    else:
        modules = (backbone.unet, backbone.text_encoder, backbone.text_encoder_2)
        if getattr(backbone.unet, "peft_config", None):
            adapted = [p for m in modules if m is not None for p in lora_parameters(m)]
        else:
            adapted = add_lora(backbone, lora or LoraSettings())
        if backbone.text_encoder_2 is not None:
            names = [t[1:-1] for t in backbone.tokenizer.convert_ids_to_tokens(list(token_ids))]
            ids_2 = add_placeholder_tokens(backbone.tokenizer_2, backbone.text_encoder_2, names)
            rows.append(train_only_rows(backbone.text_encoder_2, ids_2))
    return [
        {"params": adapted, "name": "unet", "weight_decay": 1e-2},
        {"params": rows, "name": "tokens", "weight_decay": 0.0},
    ]


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` with torch.save to a temporary file, then rename (never a torn checkpoint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _state(
    backbone: Backbone,
    opt: torch.optim.Optimizer,
    step: int,
    rng: np.random.Generator,
    gen: torch.Generator,
    losses: list[float],
    cfg: FitConfig,
) -> dict:
    return {
        "step": step,
        "unet": backbone.unet.state_dict(),
        "text_encoder": backbone.text_encoder.state_dict(),
        "text_encoder_2": None if backbone.text_encoder_2 is None else backbone.text_encoder_2.state_dict(),
        "optimizer": opt.state_dict(),
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": gen.get_state(),
        "losses": list(losses),
        "config": asdict(cfg),
    }


def _restore(
    path: Path, backbone: Backbone, opt: torch.optim.Optimizer, rng: np.random.Generator, gen: torch.Generator
) -> tuple[int, list[float]]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    backbone.unet.load_state_dict(state["unet"])
    backbone.text_encoder.load_state_dict(state["text_encoder"])
    if state.get("text_encoder_2") is not None:
        if backbone.text_encoder_2 is None:
            raise ValueError(
                f"checkpoint {path} has a second text encoder (SDXL) but this {backbone.family!r} "
                "backbone has none; resume with the backbone the checkpoint was written from."
            )
        backbone.text_encoder_2.load_state_dict(state["text_encoder_2"])
    opt.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["numpy_rng"]
    gen.set_state(state["torch_rng"])
    return int(state["step"]), list(state["losses"])


def train(
    backbone: Backbone,
    data: TrainData,
    cfg: FitConfig,
    token_ids: Sequence[int],
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
    lora: LoraSettings | None = None,
) -> list[float]:
    """Run (or resume) the fit loop; returns the loss of every step since the start.

    ``on_step(n)`` runs after each optimizer step ``n`` (1-based), e.g. to write validation images;
    ``lora`` sets the adapters of a pretrained backbone (default ``LoraSettings()``).
    """
    ckpt = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    if resume and (ckpt is None or not ckpt.is_file()):
        raise ValueError(
            f"resume=True but there is no checkpoint at {ckpt}; run fit once with a "
            "checkpoint folder first, or drop resume."
        )
    torch.set_flush_denormal(True)
    options = cfg.options
    check_device(options, backbone.device)
    groups = prepare_trainable(backbone, token_ids, lora)
    if options.gradient_checkpointing:
        backbone.unet.enable_gradient_checkpointing()
    base_lr = {"unet": cfg.lr, "tokens": cfg.token_lr}
    opt = make_optimizer(groups, cfg.lr, options)
    scaler = grad_scaler(options, backbone.device)
    rng, gen = np.random.default_rng(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    start, losses = _restore(ckpt, backbone, opt, rng, gen) if resume and ckpt is not None else (0, [])
    last_good = start if resume else None
    backbone.unet.train()
    bar = tqdm(range(start, cfg.steps), desc="fit", initial=start, total=cfg.steps, disable=not progress)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = base_lr[group["name"]] * min(1.0, (step + 1) / max(1, cfg.warmup))
        batch = sample_batch(data, cfg, rng)
        with ExitStack() as hooks:
            with autocast(options, backbone.device):
                loss = diffusion_loss(backbone, batch, gen, cfg.attention_loss, hooks, options.min_snr_gamma)
            _check_finite(loss, step, ckpt, last_good, cfg.lr)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if ckpt is not None and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            save_checkpoint(ckpt, _state(backbone, opt, step + 1, rng, gen, losses, cfg))
            last_good = step + 1
        if on_step is not None:
            on_step(step + 1)
    backbone.unet.eval()
    return losses


def _check_finite(loss: torch.Tensor, step: int, ckpt: Path | None, last_good: int | None, lr: float) -> None:
    """Raise ``TrainingDivergedError`` on a NaN/inf loss, saying which checkpoint is kept."""
    if not torch.isfinite(loss):
        where = (
            f"the last good checkpoint ({ckpt}, step {last_good}) is kept"
            if last_good is not None
            else "no checkpoint was written yet"
        )
        raise TrainingDivergedError(
            f"loss became {loss.item()} at step {step}; {where}. Lower the learning "
            f"rate (lr={lr}) and resume."
        )
