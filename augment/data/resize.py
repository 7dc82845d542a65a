"""One resize rule for images and masks, used wherever the library changes an array's size.

Images: area averaging (PIL's box filter) when the image gets smaller, bicubic when it grows.
Masks: a target pixel is defect when at least ``MASK_COVERAGE`` (5 %) of its footprint was, so a
crack one pixel wide survives shrinking by up to 20 times, while a speck covering less than 5 % of
a target pixel does not turn it into defect. The generator's model windows and the downstream
detector's inputs both go through this pair, so a mask means the same thing at every size.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["MASK_COVERAGE", "Size", "resize_image", "resize_mask"]

MASK_COVERAGE = 0.05
Size = int | tuple[int, int]  # a square side, or (height, width)


def _height_width(size: Size) -> tuple[int, int]:
    return (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))


def resize_image(image: np.ndarray, size: Size) -> np.ndarray:
    """An HWC uint8 image at ``size``: box-averaged when it shrinks, bicubic when it grows."""
    h, w = _height_width(size)
    if image.shape[:2] == (h, w):
        return image
    shrinks = h * w < image.shape[0] * image.shape[1]
    resample = Image.Resampling.BOX if shrinks else Image.Resampling.BICUBIC
    return np.array(Image.fromarray(image).resize((w, h), resample))  # a writable copy


def resize_mask(mask: np.ndarray, size: Size) -> np.ndarray:
    """An HW {0,1} mask at ``size``; a pixel is set when at least 5 % of its footprint was."""
    h, w = _height_width(size)
    if mask.shape[:2] == (h, w):
        return (mask > 0).astype(np.uint8)
    coverage = Image.fromarray((mask > 0).astype(np.float32)).resize((w, h), Image.Resampling.BOX)
    return (np.asarray(coverage) > MASK_COVERAGE).astype(np.uint8)
