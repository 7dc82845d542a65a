"""The benchmark's settings: everything that changes its numbers besides the data and the synthetic source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from augment.devices import resolve_device
from downstream.metrics import DEFAULT_BINS
from downstream.trainer import TrainConfig, check_precision

RATIO_GRID = (0.5, 1.0, 2.0, 4.0)  # extra pairs per real shot tried by ``synthetic_ratio="auto"``
DEFAULT_SEEDS = (0, 1, 2, 3, 4)  # at least 5 for a claim


@dataclass
class BenchmarkConfig:
    """Everything that changes a benchmark's numbers besides the data and the synthetic source.

    ``eval_every``: validation every this many steps (and at the last); the checkpoint with the best
    validation pixel AP is the one tested, for every arm alike. ``synthetic_ratio``: extra pairs per
    real shot, or ``"auto"`` to choose per arm among ``ratio_grid`` by the mean validation AP.
    ``workers``: processes running (seed, arm) jobs side by side, each with ``threads`` torch threads;
    the numbers do not depend on ``workers``.
    """

    arms: Sequence[str] = ("real", "copy-paste")
    seeds: Sequence[int] = DEFAULT_SEEDS
    steps: int = 300
    eval_every: int = 50
    resolution: int = 256
    crop: int | None = None
    batch_size: int = 8
    lr: float = 1e-3
    loss: str = "dice+bce"
    defect_fraction: float = 0.5
    real_defect_share: float = 0.5
    arch: str = "Unet"
    encoder: str = "resnet18"
    encoder_depth: int = 5
    decoder_channels: Sequence[int] = (256, 128, 64, 32, 16)
    synthetic_ratio: float | str = 2.0
    ratio_grid: Sequence[float] = RATIO_GRID
    bins: int = DEFAULT_BINS
    n_boot: int = 2000
    previews: int = 4
    device: str = "cpu"
    dtype: str = "fp32"
    channels_last: bool = True
    workers: int = 1
    threads: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        if len(self.seeds) < 1 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {list(self.seeds)}.")
        if self.synthetic_ratio != "auto" and (
            isinstance(self.synthetic_ratio, str) or self.synthetic_ratio <= 0
        ):
            raise ValueError(
                f"synthetic_ratio must be > 0 (extra pairs per real shot) or 'auto', got {self.synthetic_ratio!r}."
            )
        if not self.ratio_grid or any(r <= 0 for r in self.ratio_grid):
            raise ValueError(f"ratio_grid needs ratios > 0, got {list(self.ratio_grid)}.")
        if self.crop is not None and (self.crop < 32 or self.crop % 32):
            raise ValueError(f"crop must be None (whole images) or a multiple of 32 px, got {self.crop}.")
        if len(self.decoder_channels) != self.encoder_depth:
            raise ValueError(
                f"decoder_channels needs one width per encoder stage ({self.encoder_depth}), "
                f"got {list(self.decoder_channels)}."
            )
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1 (steps between validations), got {self.eval_every}.")
        for name in ("workers", "threads", "n_boot"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
        self.device = str(resolve_device(self.device))
        if self.workers > 1 and self.device != "cpu":
            raise ValueError(
                f"workers={self.workers} runs jobs in several CPU processes; on device={self.device!r} "
                "use workers=1 (one process drives the GPU)."
            )
        check_precision(self.dtype, self.device)
        self.train_config(0)

    @property
    def ratios(self) -> tuple[float, ...]:
        """The synthetic ratios to run: the grid under ``"auto"``, else the one given."""
        return tuple(self.ratio_grid) if self.synthetic_ratio == "auto" else (float(self.synthetic_ratio),)

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            steps=self.steps,
            batch_size=self.batch_size,
            lr=self.lr,
            loss=self.loss,
            defect_fraction=self.defect_fraction,
            real_defect_share=self.real_defect_share,
            seed=seed,
            device=str(self.device),
            dtype=self.dtype,
            channels_last=self.channels_last,
            progress=False,
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


__all__ = ["DEFAULT_SEEDS", "RATIO_GRID", "BenchmarkConfig"]
