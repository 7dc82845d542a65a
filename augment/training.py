"""The fit loop: inpainting fine-tuning on crops around the few-shot defects.

Each step draws a batch of windows (``augment.crops``): most are around a real defect with its
mask and the prompt "a photo of a <product> with a <defect>"; some are defect-free images with a
transplanted real mask and the product-only prompt (so the model learns what a clean surface
looks like, which guidance contrasts with); 10% of prompts are dropped to "" for classifier-free
guidance. The loss is ``augment.losses.masked_diffusion_loss`` weighted inside the mask from the
defect token's captured cross-attention (``augment.models.attention``).

Checkpoints (weights, optimizer, step, every random state) are written atomically every
``checkpoint_every`` steps, so ``resume=True`` reaches the same final weights as an uninterrupted
run. A NaN/inf loss stops training with ``TrainingDivergedError`` and leaves the last good checkpoint.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from augment.crops import Box, jittered_box
from augment.data.resize import resize_image, resize_mask
from augment.errors import TrainingDivergedError
from augment.files import CHECKPOINT
from augment.losses import attention_weight, masked_diffusion_loss
from augment.models.attention import AttentionStore, capture_cross_attention
from augment.models.backbone import Backbone
from augment.models.conditioning import encode_prompt, model_mask, predict_noise, to_model_space, tokenize
from augment.models.lora import LoraSettings, add_lora, lora_parameters
from augment.models.tokens import add_placeholder_tokens, placeholder, prompt_for, train_only_rows
from augment.train_options import (
    TrainOptions,
    autocast,
    check_device,
    grad_scaler,
    make_optimizer,
    min_snr_weight,
    scheduler_snr,
)

logger = logging.getLogger(__name__)


@dataclass
class TrainData:
    """In-memory training material: defect shots (image, mask, defect) and defect-free images."""

    product: str
    shots: list[tuple[np.ndarray, np.ndarray, str]]
    goods: list[np.ndarray]


@dataclass
class TrainConfig:
    steps: int = 600
    batch_size: int = 8
    lr: float = 1e-3
    token_lr: float = 5e-3
    resolution: int = 32
    context: float = 1.5
    good_fraction: float = 0.15
    uncond_prob: float = 0.1
    warmup: int = 20
    seed: int = 0
    checkpoint_every: int = 100
    attention_loss: bool = True
    lora: dict = field(default_factory=dict)  # LoraSettings arguments for pretrained backbones
    options: TrainOptions = field(default_factory=TrainOptions)
    extra: dict = field(default_factory=dict)


@dataclass
class Batch:
    pixels: torch.Tensor  # (B, 3, R, R) in [-1, 1]
    mask: torch.Tensor  # (B, 1, R, R) {0, 1}
    prompts: list[str]
    defects: list[str | None]


def _window(
    image: np.ndarray, mask: np.ndarray, box: Box, res: int, flip: bool
) -> tuple[np.ndarray, np.ndarray]:
    img, msk = resize_image(box.cut(image), res), resize_mask(box.cut(mask), res)
    return (img[:, ::-1], msk[:, ::-1]) if flip else (img, msk)


def _good_window(
    data: TrainData, cfg: TrainConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A defect-free image with a real shot mask moved to a random spot of it."""
    good = data.goods[rng.integers(len(data.goods))]
    shot_mask = data.shots[rng.integers(len(data.shots))][1]
    box = jittered_box(shot_mask, cfg.resolution, cfg.context, rng)
    h, w = good.shape[:2]
    target = Box(int(rng.integers(0, h - box.side + 1)), int(rng.integers(0, w - box.side + 1)), box.side)
    img = resize_image(target.cut(good), cfg.resolution)
    return img, resize_mask(box.cut(shot_mask), cfg.resolution)


def sample_batch(data: TrainData, cfg: TrainConfig, rng: np.random.Generator) -> Batch:
    """One training batch drawn with ``rng`` only (so it is reproducible and resumable)."""
    images, masks, prompts, defects = [], [], [], []
    for _ in range(cfg.batch_size):
        flip = bool(rng.random() < 0.5)
        if data.goods and rng.random() < cfg.good_fraction:
            img, msk = _good_window(data, cfg, rng)
            defect = None
        else:
            image, shot_mask, defect = data.shots[rng.integers(len(data.shots))]
            img, msk = _window(
                image,
                shot_mask,
                jittered_box(shot_mask, cfg.resolution, cfg.context, rng),
                cfg.resolution,
                False,
            )
        if flip:
            img, msk = img[:, ::-1], msk[:, ::-1]
        drop = bool(rng.random() < cfg.uncond_prob)
        images.append(img)
        masks.append(msk)
        prompts.append("" if drop else prompt_for(data.product, defect))
        defects.append(None if drop else defect)
    pixels = torch.from_numpy(np.stack(images).astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)
    mask = torch.from_numpy(np.stack(masks).astype(np.float32))[:, None]
    return Batch(pixels.contiguous(), mask, prompts, defects)


def prepare_trainable(backbone: Backbone, token_ids: Sequence[int], lora: dict | None = None) -> list[dict]:
    """Choose what trains, in one place: optimizer parameter groups (lr set by the caller).

    Embedded default: the whole UNet plus the placeholder-token embedding rows. Pretrained
    backbones: LoRA adapters (``augment.models.lora``, settings from ``lora``) plus the token rows of
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
            adapted = add_lora(backbone, LoraSettings(**(lora or {})))
        if backbone.text_encoder_2 is not None:
            names = [t[1:-1] for t in backbone.tokenizer.convert_ids_to_tokens(list(token_ids))]
            ids_2 = add_placeholder_tokens(backbone.tokenizer_2, backbone.text_encoder_2, names)
            rows.append(train_only_rows(backbone.text_encoder_2, ids_2))
    return [
        {"params": adapted, "name": "unet", "weight_decay": 1e-2},
        {"params": rows, "name": "tokens", "weight_decay": 0.0},
    ]


def _defect_positions(backbone: Backbone, batch: Batch) -> list[list[int]]:
    """Index of each sample's defect token in its encoded prompt ([0] where there is none)."""
    ids = tokenize(backbone.tokenizer, batch.prompts)
    out = []
    for row, defect in zip(ids.tolist(), batch.defects, strict=True):
        tok = backbone.tokenizer.convert_tokens_to_ids(placeholder(defect)) if defect else None
        out.append([row.index(tok)] if tok in row else [0])
    return out


def diffusion_loss(
    backbone: Backbone,
    batch: Batch,
    gen: torch.Generator,
    use_attention: bool,
    hooks: ExitStack | None = None,
    min_snr_gamma: float | None = None,
) -> torch.Tensor:
    """Masked, attention-weighted loss of one batch (noise and timesteps drawn from ``gen``).

    With ``hooks`` the attention capture stays installed (frozen) until the caller closes it after
    the backward pass, as gradient checkpointing's recompute needs; ``min_snr_gamma`` weights each
    sample by Min-SNR-gamma (``augment.train_options.min_snr_weight``).
    """
    sched = backbone.scheduler
    x0 = to_model_space(backbone, batch.pixels.to(backbone.device))
    mask = model_mask(backbone, batch.mask.to(backbone.device))
    noise = torch.randn(x0.shape, generator=gen).to(x0)
    t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), generator=gen).to(x0.device)
    noisy = sched.add_noise(x0, noise, t)
    masked = x0 * (1 - mask)
    target = (
        noise
        if sched.config.prediction_type == "epsilon"
        else (sched.get_velocity(x0, noise, t) if sched.config.prediction_type == "v_prediction" else x0)
    )
    cond = encode_prompt(backbone, batch.prompts)
    has_defect = torch.tensor([d is not None for d in batch.defects], device=x0.device)
    if use_attention and bool(has_defect.any()):
        store = AttentionStore(_defect_positions(backbone, batch))
        with ExitStack() as local:
            (hooks or local).enter_context(capture_cross_attention(backbone.unet, store))
            pred = predict_noise(backbone, noisy, t, cond, mask, masked)
            store.freeze()
        weight = attention_weight(store.maps((mask.shape[-2], mask.shape[-1])), mask)
        weight = torch.where(has_defect, weight, attention_weight(None, mask))
    else:
        pred = predict_noise(backbone, noisy, t, cond, mask, masked)
        weight = attention_weight(None, mask)
    snr_weight = None
    if min_snr_gamma is not None:
        snr_weight = min_snr_weight(scheduler_snr(sched, t), min_snr_gamma, sched.config.prediction_type)
    return masked_diffusion_loss(pred, target, mask, weight, snr_weight)


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
    cfg: TrainConfig,
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
    cfg: TrainConfig,
    token_ids: Sequence[int],
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> list[float]:
    """Run (or resume) the fit loop; returns the loss of every step since the start.

    ``on_step(n)`` runs after each optimizer step ``n`` (1-based), e.g. to write validation images.
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
    groups = prepare_trainable(backbone, token_ids, cfg.lora)
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
