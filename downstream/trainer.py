"""A small trainer for segmentation-models-pytorch models, readable in one sitting (minGPT style).

Fixed step budget (not epochs), so every arm of the benchmark gets the same number of updates
whatever its training set size. Each batch draws a share ``defect_fraction`` of defect images and
the rest defect-free ones, with replacement, from a seeded sampler: with 17 shots among 231
defect-free images, uniform sampling would show a defect once in 15 images. When an arm adds extra
(synthetic or pasted) defect items, the real ones keep ``real_defect_share`` of the defect draws, so
adding pairs does not make the real shots rarer. Deterministic on CPU
for a given seed: model init, sampler and augmentation each take it, loading runs in the main
process, and ``torch.use_deterministic_algorithms`` is on during training.

``device`` and ``dtype`` (fp32, or bf16 autocast: weights and the loss stay fp32) come from
``augment.devices``; ``channels_last`` stores activations NHWC, which oneDNN's CPU convolutions and
CUDA's tensor cores both prefer.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import segmentation_models_pytorch as smp
import torch
from torch import nn
from torch.utils.data import DataLoader, WeightedRandomSampler
from tqdm.auto import tqdm

from augment.devices import resolve_dtype
from downstream.data import SegmentationSet, to_tensor

logger = logging.getLogger(__name__)

LOSSES = ("dice+bce", "focal", "dice+focal")


def build_model(
    arch: str = "Unet",
    encoder: str = "resnet18",
    encoder_weights: str | None = None,
    seed: int = 0,
    **kwargs: object,
) -> nn.Module:
    """An smp model with one output channel (defect logit), initialised from ``seed``.

    ``encoder_weights=None`` by default: pretrained weights are a download. Extra keyword arguments
    (``encoder_depth``, ``decoder_channels``) go to ``smp.create_model``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            return smp.create_model(
                arch,
                encoder_name=encoder,
                encoder_weights=encoder_weights,
                in_channels=3,
                classes=1,
                **kwargs,
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(
                f"cannot build smp {arch} with encoder {encoder!r}: {exc}. "
                "See segmentation_models_pytorch.encoders.get_encoder_names()."
            ) from exc


def build_loss(name: str = "dice+bce") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Loss on logits: Dice + BCE (default), focal, or Dice + focal."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {name!r}.")
    dice = smp.losses.DiceLoss(mode="binary", from_logits=True)
    focal = smp.losses.FocalLoss(mode="binary")
    bce = nn.BCEWithLogitsLoss()
    parts = {"dice+bce": (dice, bce), "focal": (focal,), "dice+focal": (dice, focal)}[name]
    return lambda logits, target: sum(fn(logits, target) for fn in parts)


@dataclass
class TrainConfig:
    """Everything that changes a training run besides the data and the model."""

    steps: int = 500
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    loss: str = "dice+bce"
    defect_fraction: float = 0.5
    real_defect_share: float = 0.5
    seed: int = 0
    device: str = "cpu"
    dtype: str = "fp32"
    channels_last: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}.")
        if not 0.0 <= self.defect_fraction <= 1.0:
            raise ValueError(f"defect_fraction must lie in [0, 1], got {self.defect_fraction}.")
        check_share(self.real_defect_share)
        build_loss(self.loss)
        check_precision(self.dtype, self.device)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def check_precision(dtype: str, device: str | torch.device) -> torch.dtype:
    """The compute dtype for ``dtype`` (fp32 or bf16 autocast) on ``device`` (ValueError otherwise)."""
    resolved = resolve_dtype(dtype, device)
    if resolved not in (torch.float32, torch.bfloat16):
        raise ValueError(
            f"the benchmark trains in fp32 or bf16 (autocast), got dtype={dtype!r}; use 'bf16' on a GPU."
        )
    return resolved


def autocast(device: str | torch.device, dtype: str) -> torch.autocast:
    """bf16 autocast on ``device`` when ``dtype`` is bf16; a disabled context for fp32."""
    resolved = check_precision(dtype, device)
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=resolved == torch.bfloat16)


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def check_share(real_defect_share: float) -> float:
    """``real_defect_share`` as a float in [0, 1] (ValueError otherwise)."""
    if not 0.0 <= real_defect_share <= 1.0:
        raise ValueError(
            f"real_defect_share must lie in [0, 1] (the real defect items' share of the defect "
            f"draws when an arm adds extra ones), got {real_defect_share}."
        )
    return float(real_defect_share)


def sampling_weights(
    is_defect: list[bool],
    defect_fraction: float,
    is_extra: list[bool] | None = None,
    real_defect_share: float = 0.5,
) -> torch.Tensor:
    """Per-item weights so that defect items make up ``defect_fraction`` of the draws.

    With extra defect items (``is_extra``) as well as real ones, the real defect items get
    ``real_defect_share`` of the defect draws and the extra ones the rest, each group uniformly;
    without, every defect item is drawn alike (the weights do not depend on the share).
    """
    share = check_share(real_defect_share)
    flags = torch.tensor(is_defect, dtype=torch.bool)
    extra = torch.tensor(is_extra, dtype=torch.bool) if is_extra is not None else torch.zeros_like(flags)
    if extra.shape != flags.shape:
        raise ValueError(f"is_extra needs one flag per item ({len(flags)}), got {len(extra)}.")
    n_defect, n_good = int(flags.sum()), int((~flags).sum())
    n_extra = int((flags & extra).sum())
    if n_defect == 0 or n_good == 0:
        return torch.ones(len(flags), dtype=torch.double)
    if n_extra == 0 or n_extra == n_defect:
        return torch.where(flags, defect_fraction / n_defect, (1 - defect_fraction) / n_good).double()
    real_w = defect_fraction * share / (n_defect - n_extra)
    defect_w = torch.where(extra, defect_fraction * (1 - share) / n_extra, real_w)
    return torch.where(flags, defect_w, (1 - defect_fraction) / n_good).double()


class Trainer:
    """Train ``model`` on ``train_set`` for ``config.steps`` steps; hooks via ``add_callback``.

    Events: ``on_batch_end`` (after each optimiser step; ``trainer.step`` and ``trainer.loss`` set).
    """

    def __init__(self, model: nn.Module, train_set: SegmentationSet, config: TrainConfig) -> None:
        self.model, self.train_set, self.config = model, train_set, config
        self.callbacks: dict[str, list[Callable[[Trainer], None]]] = defaultdict(list)
        self.step, self.loss = 0, float("nan")
        self.losses: list[float] = []

    def add_callback(self, event: str, fn: Callable[[Trainer], None]) -> None:
        self.callbacks[event].append(fn)

    def _fire(self, event: str) -> None:
        for fn in self.callbacks[event]:
            fn(self)

    def _loader(self) -> DataLoader:
        cfg = self.config
        weights = sampling_weights(
            self.train_set.is_defect(), cfg.defect_fraction, self.train_set.is_extra(), cfg.real_defect_share
        )
        sampler = WeightedRandomSampler(
            weights.tolist(),
            num_samples=cfg.steps * cfg.batch_size,
            replacement=True,
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        return DataLoader(
            self.train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=0, drop_last=True
        )

    def run(self) -> list[float]:
        """Train and return the loss of every step."""
        cfg = self.config
        torch.set_flush_denormal(True)
        model = self.model.to(cfg.device).train()
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        loss_fn = build_loss(cfg.loss)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # 10 % warm-up; OneCycleLR divides by zero when pct_start * steps == 1 (10 steps), so short runs warm up longer
        warmup = 0.1 if cfg.steps > 10 else 0.3
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=warmup
        )
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            bar = tqdm(self._loader(), total=cfg.steps, desc="train", disable=not cfg.progress, leave=False)
            for batch in bar:
                with autocast(cfg.device, cfg.dtype):
                    logits = model(_layout(batch["image"].to(cfg.device), cfg.channels_last))
                loss = loss_fn(logits.float(), batch["mask"].to(cfg.device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                self.step, self.loss = self.step + 1, float(loss.item())
                self.losses.append(self.loss)
                bar.set_postfix(loss=f"{self.loss:.3f}")
                self._fire("on_batch_end")
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
        return self.losses


@torch.no_grad()
def predict(
    model: nn.Module,
    images: np.ndarray,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    dtype: str = "fp32",
    channels_last: bool = True,
) -> np.ndarray:
    """Defect probabilities (N, H, W) float32 of NHWC uint8 images at the model's input size.

    Leaves the model in eval mode; a caller in the middle of training puts it back with ``train()``.
    """
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"predict expects NHWC uint8 RGB images, got {images.shape} {images.dtype}.")
    torch.set_flush_denormal(True)
    model = model.to(device).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    out = []
    for i in range(0, len(images), batch_size):
        with autocast(device, dtype):
            logits = model(_layout(to_tensor(images[i : i + batch_size]).to(device), channels_last))
        out.append(torch.sigmoid(logits.float())[:, 0].cpu().numpy())
    return np.concatenate(out).astype(np.float32)


__all__ = [
    "LOSSES",
    "TrainConfig",
    "Trainer",
    "autocast",
    "build_loss",
    "build_model",
    "check_precision",
    "predict",
    "sampling_weights",
]
