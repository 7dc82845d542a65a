"""The smallest benchmark detector the downstream tests train: a 3-level UNet on 64 px images, no bars."""

from __future__ import annotations

from typing import Any

TINY_DETECTOR: dict[str, Any] = {
    "encoder": "tu-resnet10t",
    "encoder_depth": 3,
    "decoder_channels": (16, 8, 8),
    "resolution": 64,
    "batch_size": 4,
    "progress": False,
}
