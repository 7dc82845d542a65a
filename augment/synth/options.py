"""Optional training features, chosen in one place (``TrainOptions``) and applied through accelerate.

- ``mixed_precision``: "no", "bf16" or "fp16": ``accelerate.Accelerator``'s autocast (weights stay
  float32) and, for fp16, its gradient scaler. On CPU only bf16 works; fp16 needs CUDA.
- ``gradient_accumulation_steps``: micro-batches summed into each optimizer step (the batch the
  step sees is ``batch_size`` times this), through ``Accelerator.accumulate``.
- ``gradient_checkpointing``: ``unet.enable_gradient_checkpointing()`` (activations recomputed
  in the backward pass; the attention store is frozen after the forward pass, so the recompute
  never counts a map twice).
- ``adam_8bit``: bitsandbytes' ``AdamW8bit`` when bitsandbytes is importable.
- ``min_snr_gamma``: Min-SNR-gamma loss weighting (``augment.synth.losses.min_snr_weight``);
  ``None`` turns it off, 5 is the paper's choice.
- ``validate_every``: every N steps, a contact sheet of validation inpaintings (one per defect
  type, drawn from a fixed seed so training randomness is untouched) under the validation folder
  (``augment.synth.validation``).

``FitConfig`` holds the rest of a fit run's settings (steps, batch, learning rates, window).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import GradientAccumulationPlugin

from augment.processes import under_launcher

__all__ = [
    "PRECISIONS",
    "FitConfig",
    "TrainOptions",
    "check_loop_numbers",
    "make_accelerator",
    "make_optimizer",
]

PRECISIONS = ("no", "fp16", "bf16")


@dataclass
class TrainOptions:
    """Speed / memory / weighting options of the fit loop (all off by default)."""

    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    adam_8bit: bool = False
    min_snr_gamma: float | None = None
    validate_every: int = 0
    validation_steps: int = 10
    gradient_accumulation_steps: int = 1

    def __post_init__(self) -> None:
        if self.mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision must be one of {PRECISIONS}, got {self.mixed_precision!r}.")
        if self.min_snr_gamma is not None and not self.min_snr_gamma > 0:
            raise ValueError(
                f"min_snr_gamma must be > 0 (5 is the paper's value) or None to turn it off, "
                f"got {self.min_snr_gamma}."
            )
        if self.validate_every < 0 or self.validation_steps < 1:
            raise ValueError(
                f"validate_every must be >= 0 (0: never) and validation_steps >= 1, got "
                f"{self.validate_every} and {self.validation_steps}."
            )
        if isinstance(self.gradient_accumulation_steps, bool) or self.gradient_accumulation_steps < 1:
            raise ValueError(
                f"gradient_accumulation_steps must be an integer >= 1 (1: no accumulation), "
                f"got {self.gradient_accumulation_steps!r}."
            )


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_loop_numbers(steps: int, batch_size: int, lr: float, checkpoint_every: int) -> None:
    """Refuse step, batch and checkpoint counts below 1 and a learning rate that is not a positive number."""
    for name, value in (("steps", steps), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
        if not _count(value) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf"):
        raise ValueError(f"lr must be a positive number (1e-3 is the default), got {lr!r}.")


@dataclass
class FitConfig:
    """Settings of one fit run: steps, batch, learning rates, the model window, data mix, checkpoints.

    Windows are cut at the image's own scale (``resolution`` pixels), zoomed by a log-uniform factor
    from ``zoom_range``; ``good_fraction`` of them are defect-free windows under a real shot's mask
    with the product-only prompt; the first ``prior_steps`` steps (at most a quarter of them) use defect-free windows only (a
    surface prior: it lowered the KID of generated KSDD cracks to held-out validation cracks from
    36e-3 to 27e-3 in the measurements the README cites). The learning rate warms up over ``warmup`` steps and then stays
    (no schedule over the total steps, so resuming with more steps equals a longer uninterrupted
    run); the weights used after the fit are an exponential moving average of the trained ones with
    decay ``ema_decay`` (0: none), which smooths what a few hundred noisy steps on a few shots learn.
    """

    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    token_lr: float = 5e-3
    resolution: int = 64
    zoom_range: tuple[float, float] = (0.8, 1.25)
    good_fraction: float = 0.25
    prior_steps: int = 250
    uncond_prob: float = 0.1
    warmup: int = 20
    ema_decay: float = 0.995
    seed: int = 0
    checkpoint_every: int = 100
    attention_loss: bool = True
    options: TrainOptions = field(default_factory=TrainOptions)

    def __post_init__(self) -> None:
        if self.prior_steps < 0:
            raise ValueError(f"prior_steps must be >= 0 (0: no surface prior), got {self.prior_steps}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in [0, 1) (0: no moving average), got {self.ema_decay}.")
        low, high = self.zoom_range
        if not 0 < low <= high:
            raise ValueError(f"zoom_range must be (low, high) with 0 < low <= high, got {self.zoom_range}.")
        check_loop_numbers(self.steps, self.batch_size, self.lr, self.checkpoint_every)


def make_accelerator(options: TrainOptions, device: torch.device) -> Accelerator:
    """The ``Accelerator`` of one fit: precision and accumulation from ``options``, on ``device``'s kind.

    accelerate keeps one precision per process. A lone process (no launcher) may fit again with
    other options, so its accelerate state is started afresh for each fit; launched processes
    share theirs and must agree.
    """
    if options.mixed_precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"mixed_precision='fp16' needs a CUDA GPU, but the model is on {device.type}; "
            "use mixed_precision='bf16' (works on CPU) or 'no'."
        )
    if not under_launcher():
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    accumulation = GradientAccumulationPlugin(
        num_steps=options.gradient_accumulation_steps, sync_with_dataloader=False
    )
    return Accelerator(
        mixed_precision=options.mixed_precision,
        gradient_accumulation_plugin=accumulation,
        cpu=device.type == "cpu",
    )


def make_optimizer(groups: list[dict], lr: float, options: TrainOptions) -> torch.optim.Optimizer:
    """AdamW, or bitsandbytes' 8-bit AdamW when ``options.adam_8bit`` (a ValueError if it is missing).

    torch's fused AdamW (one kernel for all parameters) takes 2.5 ms per step of the embedded
    default on one CPU core against 12.1 ms for the per-tensor loop (``benchmarks/fit_step_bench.py``)."""
    if not options.adam_8bit:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    try:
        bnb = importlib.import_module("bitsandbytes")
    except ImportError as exc:
        raise ValueError(
            "adam_8bit=True needs bitsandbytes, which is not installed here: `pip install "
            "bitsandbytes` (on a CUDA machine), or leave adam_8bit off to use torch's AdamW."
        ) from exc
    return bnb.optim.AdamW8bit(groups, lr=lr)
