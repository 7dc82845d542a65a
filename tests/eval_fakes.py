"""Tiny stand-ins for the eval networks, so eval tests never load the 87 MB Inception or LPIPS weights."""

from __future__ import annotations

import torch
from torch import nn


class _DummyFeatureExtractor(nn.Module):
    """A fixed random projection of a 16 px image (like torchmetrics' test extractor), with logits."""

    network = "dummy-projection"
    resolution = 16
    dim = 8

    def __init__(self, seed: int = 0, n_classes: int = 5) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.proj = nn.Parameter(
            torch.randn(3 * self.resolution**2, self.dim, generator=g) / 30.0, requires_grad=False
        )
        self.head = nn.Parameter(torch.randn(self.dim, n_classes, generator=g), requires_grad=False)
        self.classifier = self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(x.shape[0], -1) / 255.0) @ self.proj

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.head


class _NoLogitsExtractor(_DummyFeatureExtractor):
    """Like the offline Inception: features but no classifier head."""

    network = "dummy-no-head"

    def __init__(self) -> None:
        super().__init__()
        self.classifier = None


def mean_abs_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A perceptual-distance stand-in for LPIPS: mean absolute difference per pair."""
    return (a - b).abs().flatten(1).mean(1)
