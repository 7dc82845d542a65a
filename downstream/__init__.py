"""Downstream benchmark: does synthetic data make a segmentation detector better?

Train a small smp model the same way on different training sets (real few shots, plus synthetic
pairs, plus classical copy-paste) and score all of them on the same held-out real images.
"""

from downstream.metrics import SegmentationMetrics

__all__ = ["SegmentationMetrics"]
