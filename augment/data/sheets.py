"""Contact sheets: a grid of images with their defect masks outlined and a label under each.

People judge synthetic defects by looking; every step that makes images writes one of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from augment.data.pairs import SyntheticPair

__all__ = ["Tile", "contact_sheet", "draw_boxes", "outline_mask", "save_contact_sheet", "sheet_tiles"]

OUTLINE_RGB = (255, 40, 40)
RGB = tuple[int, int, int]
LABEL_HEIGHT = 14
Tile = tuple[np.ndarray, np.ndarray | None, str]  # image, mask to outline (or None), label


def outline_mask(
    image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = OUTLINE_RGB, width: int = 1
) -> np.ndarray:
    """Copy of ``image`` with the border of ``mask`` drawn in ``colour``."""
    out = np.array(image, dtype=np.uint8, copy=True)
    fg = np.asarray(mask).astype(bool)
    if fg.any():
        edge = ndimage.binary_dilation(fg, iterations=width) & ~fg
        out[edge] = colour
    return out


def draw_boxes(
    image: np.ndarray, boxes: Sequence[Sequence[float]], colours: Sequence[RGB] | None = None
) -> np.ndarray:
    """Copy of ``image`` with each ``(x_min, y_min, x_max, y_max)`` pixel box (maxima exclusive)
    outlined, box k in ``colours[k]`` (default: all in the mask outline colour)."""
    canvas = Image.fromarray(np.asarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    for k, box in enumerate(boxes):
        x0, y0, x1, y1 = (round(float(v)) for v in box[:4])
        colour = OUTLINE_RGB if colours is None else colours[k]
        draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), outline=colour)
    return np.asarray(canvas)


def contact_sheet(tiles: Sequence[Tile], columns: int = 6, tile_size: int = 160) -> Image.Image:
    """Grid of ``(image, mask or None, label)`` tiles, each resized to ``tile_size`` square."""
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile.")
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    cell_h = tile_size + LABEL_HEIGHT
    sheet = Image.new("RGB", (columns * tile_size, rows * cell_h), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for k, (image, mask, label) in enumerate(tiles):
        tile = Image.fromarray(np.asarray(image, dtype=np.uint8)).resize(
            (tile_size, tile_size), Image.Resampling.BILINEAR
        )
        tile_arr = np.asarray(tile)
        if mask is not None:
            small = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).resize(
                (tile_size, tile_size), Image.Resampling.NEAREST
            )
            tile_arr = outline_mask(tile_arr, np.asarray(small) > 127)
        x, y = (k % columns) * tile_size, (k // columns) * cell_h
        sheet.paste(Image.fromarray(tile_arr), (x, y))
        draw.text((x + 3, y + tile_size + 1), label[: tile_size // 6], fill=(230, 230, 230))
    return sheet


def save_contact_sheet(
    path: str | Path,
    tiles: Sequence[Tile],
    columns: int = 6,
    tile_size: int = 160,
) -> Path:
    """Write a contact sheet PNG and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(tiles, columns, tile_size).save(path)
    return path


def sheet_tiles(pairs: Sequence[SyntheticPair], sources: dict[str, np.ndarray]) -> list[Tile]:
    """source | generated | generated with the mask outlined, one row of three per pair."""
    tiles: list[Tile] = []
    for p in pairs:
        src = sources.get(p.record["source_image"])
        tiles += [
            (src if src is not None else p.image, None, "source"),
            (p.image, None, p.record["defect"]),
            (p.image, p.mask, "mask"),
        ]
    return tiles
