"""A tiny dataset as factories deliver them: mixed image sizes, a defect larger than every
defect-free image, and (on request) a few broken files, built in seconds with a seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

PRODUCT = "tile"
# (height, width) of the defect-free images: 24 to 66 px wide, none taller than 40 px
GOOD_SIZES = [(22, 24), (30, 40), (36, 63), (40, 60), (26, 50), (34, 66)]
# (height, width, defect box (y0, x0, y1, x1)) of the crack images; the first (the few-shot split's
# shot) has a 50 x 70 px defect, larger than every defect-free image
CRACKS = [(64, 100, (6, 14, 56, 84)), (32, 48, (10, 6, 14, 40)), (40, 90, (12, 10, 16, 80))]
# names of the broken files `add_invalid_files` writes, by reason
BROKEN = {
    "unreadable image": ["train/good/truncated.png", "train/good/empty.png", "test/crack/notes.png"],
    "empty mask": ["ground_truth/crack/e1_mask.png", "ground_truth/crack/e2_mask.png"],
    "mask size mismatch": ["ground_truth/crack/m1_mask.png"],
    "missing mask": ["test/crack/lost.png"],
}


def texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A grey textured surface (HWC uint8)."""
    base = rng.normal(150, 12, (h, w)).clip(0, 255)
    return np.repeat(base[..., None], 3, axis=2).astype(np.uint8)


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _crack(
    h: int, w: int, box: tuple[int, int, int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    image = texture(h, w, rng)
    mask = np.zeros((h, w), np.uint8)
    y0, x0, y1, x1 = box
    mask[y0:y1, x0:x1] = 255
    image[mask > 0] = (image[mask > 0] * 0.35).astype(np.uint8)
    return image, mask


def mixed_dataset(root: Path, seed: int = 0) -> Path:
    """The MVTec-layout product folder ``root/tile`` (see the module constants)."""
    rng = np.random.default_rng(seed)
    product = root / PRODUCT
    for k, (h, w) in enumerate(GOOD_SIZES):
        _save(product / "train" / "good" / f"g{k}.png", texture(h, w, rng))
    _save(product / "test" / "good" / "t0.png", texture(28, 44, rng))
    for k, (h, w, box) in enumerate(CRACKS):
        image, mask = _crack(h, w, box, rng)
        _save(product / "test" / "crack" / f"c{k}.png", image)
        _save(product / "ground_truth" / "crack" / f"c{k}_mask.png", mask)
    return product


def add_invalid_files(product: Path, seed: int = 1) -> dict[str, list[Path]]:
    """Write the `BROKEN` files into ``product``; returns their paths by reason."""
    rng = np.random.default_rng(seed)
    _save(product / "train" / "good" / "truncated.png", texture(30, 30, rng))
    data = (product / "train" / "good" / "truncated.png").read_bytes()
    (product / "train" / "good" / "truncated.png").write_bytes(data[: len(data) // 2])
    (product / "train" / "good" / "empty.png").write_bytes(b"")
    (product / "test" / "crack" / "notes.png").write_text("these are notes, not an image")
    _save(product / "ground_truth" / "crack" / "notes_mask.png", np.zeros((8, 8), np.uint8))
    for name in ("e1", "e2", "m1", "lost"):
        image, mask = _crack(30, 40, (8, 8, 12, 30), rng)
        _save(product / "test" / "crack" / f"{name}.png", image)
        if name.startswith("e"):
            _save(product / "ground_truth" / "crack" / f"{name}_mask.png", np.zeros_like(mask))
        elif name == "m1":
            _save(product / "ground_truth" / "crack" / f"{name}_mask.png", mask[:20])
    return {reason: [product / name for name in names] for reason, names in BROKEN.items()}
