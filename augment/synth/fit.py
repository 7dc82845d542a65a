"""The fit loop: inpainting fine-tuning on windows around the few-shot defects.

Each step draws a batch (``augment.synth.batches``) and takes the masked, attention-weighted loss
(``augment.synth.losses``) under an ``accelerate.Accelerator``, which applies the precision,
gradient accumulation and device of ``TrainOptions`` (``augment.synth.options``). What trains is chosen in one place (``prepare_trainable``): the whole
UNet of the embedded default, LoRA adapters of a pretrained one, and the placeholder-token rows.

Under ``accelerate launch`` each process trains on its own batches and the gradients are averaged
before every step (``augment.synth.ranks``: no DistributedDataParallel wrapper, which would hide the
attention processors the loss captures through); only the first process writes checkpoints and
validation sheets. The weights kept after the fit are an exponential moving average of the trained ones
(``diffusers.training_utils.EMAModel``, decay ``FitConfig.ema_decay``). Checkpoints (weights, their
average, optimizer, step, every random state) are written atomically every
``checkpoint_every`` steps, so ``resume=True`` reaches the same final weights as an uninterrupted
run. A NaN/inf loss stops training with ``TrainingDivergedError`` and leaves the last good checkpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from augment.data.index import DatasetIndex, index_folder
from augment.data.split import FewShotSplit, make_split
from augment.errors import DataError, TrainingDivergedError
from augment.models.backbone import Backbone
from augment.models.lora import LoraSettings, add_lora, lora_parameters
from augment.models.tokens import add_placeholder_tokens, train_only_rows
from augment.synth.batches import TrainData, sample_batch
from augment.synth.checkpoint import (
    LoopState,
    capture,
    checkpoint_path,
    restore,
    rng_state,
    save_checkpoint,
    seeded_global_rng,
)
from augment.synth.losses import diffusion_loss
from augment.synth.options import FitConfig, TrainOptions, make_accelerator, make_optimizer
from augment.synth.precision import attention_kernel, float32_training
from augment.synth.ranks import average_gradients, mean_over_processes, rank_seed

__all__ = [
    "Data",
    "check_fit_args",
    "check_lora",
    "fit_defects",
    "fit_products",
    "fit_split",
    "prepare_trainable",
    "save_checkpoint",
    "train",
]


Data = str | Path | DatasetIndex | FewShotSplit


def fit_split(data: Data, shots: int | None, seed: int, skip_invalid: bool = False) -> FewShotSplit:
    """The few-shot split to fit on: ``data`` itself, or made from an index or a folder."""
    if isinstance(data, FewShotSplit):
        return data
    index = data if isinstance(data, DatasetIndex) else index_folder(data, skip_invalid=skip_invalid)
    return make_split(index, shots=shots, seed=seed)


def fit_defects(split: FewShotSplit, defects: Sequence[str] | None) -> list[str]:
    """The defect types to fit: ``defects`` (all of the split's shots' when None), all known."""
    available = sorted({s.defect for s in split.shots})
    if not available:
        raise DataError(
            f"{split.index.root} has no defect image with a mask to learn from (only defect-free "
            "images); add the few defect images of each type with their masks."
        )
    chosen = list(defects) if defects else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise ValueError(f"unknown defect type(s) {unknown}; the data has {available}.")
    return chosen


def fit_products(products: Sequence[str], fitted: Sequence[str]) -> list[str]:
    """The products of the data, all fitted together; a fitted synthesizer takes only its own."""
    if not products:
        raise DataError("the data holds no product; pass a dataset folder in the MVTec or generic layout.")
    new = [p for p in products if p not in fitted]
    if fitted and new:
        known = f"product {fitted[0]!r}" if len(fitted) == 1 else f"products {list(fitted)}"
        raise ValueError(
            f"this synthesizer was fitted on {known} but the data is {new[0]!r}; fit a new "
            f"synthesizer for {new[0]!r}, or fit all products together from one folder holding them all."
        )
    return list(products)


def check_fit_args(
    steps: int,
    resolution: int | None,
    model_resolution: int,
    options: TrainOptions,
    validation_dir: str | Path | None,
) -> None:
    """Refuse a fit whose arguments cannot work, before any file is read."""
    if options.validate_every and validation_dir is None:
        raise ValueError(
            f"validate_every={options.validate_every} needs validation_dir= (where the contact "
            "sheets go); pass a folder or set validate_every=0."
        )
    if resolution is not None and resolution != model_resolution:
        raise ValueError(
            f"resolution {resolution} differs from the model's {model_resolution}; "
            f"build DefectSynthesizer(resolution={resolution}) instead."
        )
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")


def check_lora(lora: LoraSettings | None, backbone: Backbone) -> None:
    """LoRA settings apply to pretrained backbones; the embedded default trains its whole UNet."""
    if lora is not None and backbone.family == "embedded":
        raise ValueError(
            "lora= sets the adapters of a pretrained backbone; the embedded default trains its "
            "whole UNet. Drop lora=, or pass backbone=load_backbone(...)."
        )


def prepare_trainable(
    backbone: Backbone, token_ids: Sequence[int], lora: LoraSettings | None = None
) -> list[dict]:
    """Choose what trains, in one place: optimizer parameter groups (lr set by the caller).

    Embedded default: the whole UNet plus the placeholder-token embedding rows. Pretrained
    backbones: LoRA adapters (``augment.models.lora``, ``lora`` or the default settings) and class
    embeddings when it has them, plus the token rows of every text encoder. ``token_ids`` are the tokens' ids in the first text encoder
    present (an SDXL refiner has only its second); the others get the same tokens here.
    """
    (first_tokenizer, first_encoder), *others = backbone.text_pairs
    rows = [train_only_rows(first_encoder, token_ids)]
    if backbone.family == "embedded":
        backbone.unet.requires_grad_(True)
        adapted = [p for p in backbone.unet.parameters() if p.requires_grad]
    else:
        modules = (backbone.unet, backbone.text_encoder, backbone.text_encoder_2)
        if getattr(backbone.unet, "peft_config", None):
            adapted = [p for m in modules if m is not None for p in lora_parameters(m)]
        else:
            adapted = add_lora(backbone, lora or LoraSettings())
        if backbone.class_tokens:  # augment.models.classes: the class rows train with the adapters
            adapted.append(backbone.unet.class_embedding.weight.requires_grad_(True))
        names = [t[1:-1] for t in first_tokenizer.convert_ids_to_tokens(list(token_ids))]
        for tokenizer, encoder in others:
            rows.append(train_only_rows(encoder, add_placeholder_tokens(tokenizer, encoder, names)))
    return [
        {"params": adapted, "name": "unet", "weight_decay": 1e-2},
        {"params": rows, "name": "tokens", "weight_decay": 0.0},
    ]


def _accelerator(options: TrainOptions, backbone: Backbone) -> Accelerator:
    """The fit's Accelerator, with the backbone placed on its device (each launched process its own)."""
    accelerator = make_accelerator(options, backbone.device)
    if backbone.device.type != accelerator.device.type or accelerator.num_processes > 1:
        backbone.to(accelerator.device)
    return accelerator


def _optimizer_step(
    accelerator: Accelerator,
    loop: LoopState,
    data: TrainData,
    cfg: FitConfig,
    check: Callable[[torch.Tensor], None],
    prior: bool = False,
) -> float:
    """One optimizer step over ``gradient_accumulation_steps`` micro-batches; their mean loss."""
    backbone, opt = loop.backbone, loop.opt
    params = [p for group in opt.param_groups for p in group["params"]]
    micro, total = cfg.options.gradient_accumulation_steps, 0.0
    kernel = functools.partial(attention_kernel, accelerator.device, cfg.options.mixed_precision)
    for _ in range(micro):
        with accelerator.accumulate(backbone.unet):
            batch = sample_batch(data, cfg, loop.rng, prior)
            with ExitStack() as hooks, kernel():  # attention capture stays installed through backward
                with accelerator.autocast():
                    loss = diffusion_loss(
                        backbone, batch, loop.gen, cfg.attention_loss, hooks, cfg.options.min_snr_gamma
                    )
                check(mean_over_processes(accelerator, loss))
                accelerator.backward(loss)
            if accelerator.sync_gradients:
                average_gradients(accelerator, params)
                accelerator.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
        total += loss.item()
    return total / micro


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
    ``lora`` sets the adapters of a pretrained backbone (default ``LoraSettings()``). Every random
    draw comes from ``cfg.seed`` (``augment.synth.checkpoint.seeded_global_rng``).
    """
    ckpt = checkpoint_path(checkpoint_dir, resume)
    torch.set_flush_denormal(True)
    accelerator = _accelerator(cfg.options, backbone)
    with seeded_global_rng(cfg.seed, backbone.device):
        groups = prepare_trainable(backbone, token_ids, lora)  # LoRA's initial weights: seeded
        trained = [p for group in groups for p in group["params"]]
        with float32_training(backbone, trained):
            losses = _loop(accelerator, backbone, data, cfg, groups, ckpt, resume, progress, on_step)
    return losses


def _loop(
    accelerator: Accelerator,
    backbone: Backbone,
    data: TrainData,
    cfg: FitConfig,
    groups: list[dict],
    ckpt: Path | None,
    resume: bool,
    progress: bool,
    on_step: Callable[[int], None] | None,
) -> list[float]:
    """The steps of ``train`` (its precision and random state already set)."""
    if cfg.options.gradient_checkpointing:
        backbone.unet.enable_gradient_checkpointing()
    opt = accelerator.prepare_optimizer(make_optimizer(groups, cfg.lr, cfg.options))
    averaged = groups[0]["params"]
    rank, seed = accelerator.process_index, rank_seed(cfg.seed, accelerator.process_index)
    if rank:
        torch.manual_seed(seed)  # this process's own dropout, after the shared initial weights
    loop = LoopState(
        backbone, opt, np.random.default_rng(seed), torch.Generator().manual_seed(seed),
        EMAModel(averaged, decay=cfg.ema_decay) if cfg.ema_decay > 0 else None, accelerator.scaler, rank,
    )  # fmt: skip
    start, losses = restore(ckpt, loop) if resume and ckpt is not None else (0, [])
    last_good = start if resume else None
    backbone.unet.train()
    quiet = not progress or not accelerator.is_main_process
    bar = tqdm(range(start, cfg.steps), desc="fit", initial=start, total=cfg.steps, disable=quiet)
    for step in bar:
        _warm_up(opt, cfg, step)
        check = functools.partial(_check_finite, step=step, ckpt=ckpt, last_good=last_good, lr=cfg.lr)
        prior = step < min(cfg.prior_steps, cfg.steps // 4) and bool(data.goods)
        losses.append(_optimizer_step(accelerator, loop, data, cfg, check, prior))
        if loop.ema is not None:
            loop.ema.step(averaged)
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if ckpt is not None and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            ranks = gather_object([rng_state(loop)]) if accelerator.num_processes > 1 else None
            if accelerator.is_main_process:
                save_checkpoint(ckpt, capture(loop, step + 1, losses, cfg, ranks))
            last_good = step + 1
        if on_step is not None and accelerator.is_main_process:
            on_step(step + 1)
    if loop.ema is not None:
        loop.ema.copy_to(averaged)
    backbone.unet.eval()
    return losses


def _warm_up(opt: torch.optim.Optimizer, cfg: FitConfig, step: int) -> None:
    """Each group's learning rate, raised linearly over the first ``cfg.warmup`` steps."""
    base = {"unet": cfg.lr, "tokens": cfg.token_lr}
    for group in opt.param_groups:
        group["lr"] = base[group["name"]] * min(1.0, (step + 1) / max(1, cfg.warmup))


def _check_finite(loss: torch.Tensor, step: int, ckpt: Path | None, last_good: int | None, lr: float) -> None:
    """Raise ``TrainingDivergedError`` on a NaN/inf loss, saying which checkpoint is kept."""
    if not torch.isfinite(loss):
        where = (
            f"the last good checkpoint ({ckpt}, step {last_good}) is kept. Lower the learning rate "
            f"(lr={lr}) and resume from it with resume=True"
            if last_good is not None
            else f"no checkpoint was written yet. Lower the learning rate (lr={lr}) and fit again"
        )
        raise TrainingDivergedError(f"loss became {loss.item()} at step {step}; {where}.")
