"""Optional training features, chosen in one place (``TrainOptions``) and applied by the fit loop.

- ``mixed_precision``: "no", "bf16" or "fp16" through ``torch.autocast`` (weights stay float32).
  On CPU only bf16 autocast works; fp16 needs CUDA and uses a gradient scaler there.
- ``gradient_checkpointing``: ``unet.enable_gradient_checkpointing()`` (activations recomputed
  in the backward pass; the attention store is frozen after the forward pass, so the recompute
  never counts a map twice).
- ``adam_8bit``: bitsandbytes' ``AdamW8bit`` when bitsandbytes is importable.
- ``min_snr_gamma``: Min-SNR-gamma loss weighting (Hang et al. 2023, "Efficient Diffusion Training
  via Min-SNR Weighting Strategy"); ``None`` turns it off, 5 is the paper's choice.
- ``validate_every``: every N steps, a contact sheet of validation inpaintings (one per defect
  type, drawn from a fixed seed so training randomness is untouched) under the validation folder.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "TrainOptions",
    "autocast",
    "grad_scaler",
    "make_optimizer",
    "min_snr_weight",
    "scheduler_snr",
    "write_validation_sheet",
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


def check_device(options: TrainOptions, device: torch.device) -> None:
    """fp16 autocast exists only on CUDA: say so before any step runs."""
    if options.mixed_precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"mixed_precision='fp16' needs a CUDA GPU, but the model is on {device.type}; "
            "use mixed_precision='bf16' (works on CPU) or 'no'."
        )


@contextlib.contextmanager
def autocast(options: TrainOptions, device: torch.device) -> Iterator[None]:
    """``torch.autocast`` for the chosen precision on ``device`` (no-op for "no")."""
    if options.mixed_precision == "no":
        yield
        return
    check_device(options, device)
    dtype = torch.bfloat16 if options.mixed_precision == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def grad_scaler(options: TrainOptions, device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler, enabled only for fp16 (bf16 has float32's range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=options.mixed_precision == "fp16")


def make_optimizer(groups: list[dict], lr: float, options: TrainOptions) -> torch.optim.Optimizer:
    """AdamW, or bitsandbytes' 8-bit AdamW when ``options.adam_8bit`` (a ValueError if it is missing)."""
    if not options.adam_8bit:
        return torch.optim.AdamW(groups, lr=lr)
    try:
        bnb = importlib.import_module("bitsandbytes")
    except ImportError as exc:
        raise ValueError(
            "adam_8bit=True needs bitsandbytes, which is not installed here: `pip install "
            "bitsandbytes` (on a CUDA machine), or drop --adam-8bit to use torch's AdamW."
        ) from exc
    return bnb.optim.AdamW8bit(groups, lr=lr)


def scheduler_snr(scheduler: Any, timesteps: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) of a DDPM-style scheduler at ``timesteps``."""
    alpha_bar = scheduler.alphas_cumprod.to(timesteps.device)[timesteps].float()
    return alpha_bar / (1.0 - alpha_bar)


def min_snr_weight(snr: torch.Tensor, gamma: float, prediction_type: str) -> torch.Tensor:
    """Per-sample Min-SNR-gamma loss weight for a model predicting ``prediction_type``.

    The paper weights the x0-space loss by min(SNR, gamma). Expressed on what the model predicts:
    epsilon ``min(SNR, gamma) / SNR``; v (``v_prediction``) ``min(SNR, gamma) / (SNR + 1)``;
    the clean sample (``sample``) ``min(SNR, gamma)``.
    """
    clipped = torch.clamp(snr, max=gamma)
    if prediction_type == "epsilon":
        return clipped / snr
    if prediction_type == "v_prediction":
        return clipped / (snr + 1.0)
    if prediction_type == "sample":
        return clipped
    raise ValueError(
        f"Min-SNR weighting knows prediction types 'epsilon', 'v_prediction' and 'sample', got "
        f"{prediction_type!r}; turn min_snr_gamma off for this scheduler."
    )


def _validation_items(
    shots: Sequence[tuple[np.ndarray, np.ndarray, str]], goods: Sequence[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """One (source, mask, defect) per defect type: its first shot's mask on a defect-free image."""
    items, seen = [], set()
    for image, mask, defect in shots:
        if defect in seen:
            continue
        seen.add(defect)
        source = next((g for g in goods if g.shape[:2] == mask.shape), image)
        items.append((source, mask, defect))
    return items


def write_validation_sheet(
    backbone: Any,
    data: Any,
    resolution: int,
    context: float,
    options: TrainOptions,
    step: int,
    folder: Path,
    seed: int = 0,
) -> Path:
    """Inpaint each defect type once (fixed seed) and write ``folder/step_XXXXXX.png``."""
    from augment.data.sheets import save_contact_sheet
    from augment.models.tokens import prompt_for
    from augment.sampling import SampleConfig, inpaint

    cfg = SampleConfig(steps=options.validation_steps, resolution=resolution, context=context)
    was_training = backbone.unet.training
    backbone.unet.eval()
    tiles = []
    for source, mask, defect in _validation_items(data.shots, data.goods):
        prompt, negative = prompt_for(data.product, defect), prompt_for(data.product, None)
        out = inpaint(backbone, source, mask, prompt, negative, cfg, torch.Generator().manual_seed(seed))
        tiles.append((out, mask, f"step {step} {defect}"))
    backbone.unet.train(was_training)
    path = Path(folder) / f"step_{step:06d}.png"
    save_contact_sheet(path, tiles)
    return path
