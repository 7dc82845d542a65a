"""Every choice on validation: the checkpoint, the binarisation threshold and the synthetic ratio.

One rule for every arm: the model is scored on the validation images every ``every`` steps and at
the last step; the checkpoint with the best validation pixel AP (the earliest of ties) is the one
tested. The F1 / IoU threshold is the bin edge with the best F1 on that checkpoint's validation
pixels. Under ``--ratio auto`` each arm's ratio is the one whose runs have the best mean validation AP
over seeds (the smaller of ties). None of these functions ever sees a test image.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from downstream.metrics import ap_from_histograms, best_f1_threshold
from downstream.scoring import EvalSet, score_images
from downstream.trainer import Trainer, predict

__all__ = ["BestCheckpoint", "choose_ratio"]


@dataclass
class _Best:
    step: int
    val_ap: float
    state: dict[str, torch.Tensor]
    pos: np.ndarray
    neg: np.ndarray


@dataclass
class BestCheckpoint:
    """Trainer callback (``on_batch_end``): validate every ``every`` steps, keep the best weights.

    ``curve`` holds (step, validation pixel AP) of every validation.
    """

    validation: EvalSet
    every: int
    bins: int
    batch_size: int = 8
    dtype: str = "fp32"
    channels_last: bool = True
    curve: list[tuple[int, float]] = field(default_factory=list)
    best: _Best | None = None

    def __call__(self, trainer: Trainer) -> None:
        if trainer.step % self.every and trainer.step != trainer.config.steps:
            return
        model = trainer.model
        probs = predict(
            model,
            self.validation.inputs,
            self.batch_size,
            trainer.config.device,
            self.dtype,
            self.channels_last,
        )
        model.train()
        pos, neg = score_images(probs, self.validation, self.bins).pooled()
        ap = float(ap_from_histograms(pos, neg))
        self.curve.append((trainer.step, ap))
        if self.best is None or (
            not math.isnan(ap) and (math.isnan(self.best.val_ap) or ap > self.best.val_ap)
        ):
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            self.best = _Best(trainer.step, ap, state, pos, neg)

    def restore(self, model: nn.Module) -> nn.Module:
        """Load the best weights into ``model`` (after training)."""
        if self.best is None:
            raise RuntimeError("no validation ran: train with this callback for at least one step first.")
        model.load_state_dict(copy.deepcopy(self.best.state))
        return model

    @property
    def threshold(self) -> float:
        """The validation-F1-best threshold of the best checkpoint."""
        if self.best is None:
            raise RuntimeError("no validation ran: train with this callback for at least one step first.")
        return best_f1_threshold(self.best.pos, self.best.neg)


def choose_ratio(val_aps: Mapping[float, Sequence[float]]) -> float:
    """The ratio whose runs have the best mean validation AP (the smaller of ties; NaN runs ignored)."""
    if not val_aps:
        raise ValueError("choose_ratio needs the validation APs of at least one ratio, got none.")

    def mean(values: Sequence[float]) -> float:
        v = [x for x in values if not math.isnan(x)]
        return float(np.mean(v)) if v else -math.inf

    return max(sorted(val_aps), key=lambda r: (mean(val_aps[r]), -r))
