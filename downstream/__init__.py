"""Downstream benchmark: does synthetic data make a segmentation detector better?

Train a small smp model the same way on different training sets (real few shots, plus synthetic
pairs, plus classical copy-paste) and score all of them on the same held-out real images.
"""

from downstream.metrics import SegmentationMetrics
from downstream.protocol import BenchmarkConfig, run_benchmark
from downstream.report import write_report
from downstream.trainer import TrainConfig, Trainer, build_model

__all__ = [
    "BenchmarkConfig",
    "SegmentationMetrics",
    "TrainConfig",
    "Trainer",
    "build_model",
    "run_benchmark",
    "write_report",
]
