"""Reading images and masks of any common format into one array convention.

Images come back as HWC uint8 RGB; masks as HW uint8 in {0, 1}. Every reader raises
`DataError` naming the file and the fix, so a bad file is never skipped silently.

Mask binarisation rule (stated once, used everywhere):
  1. colour or alpha masks are reduced to one channel by the per-pixel maximum;
  2. values are scaled to [0, 1] by the file's bit depth (255 for 8 bit, 65535 for 16 bit);
     a mask whose maximum is 1 (a 0/1 label map) is taken as already binary;
  3. a pixel is defect where the scaled value is >= 0.5;
  4. a mask is refused as "not binary" when more than 5% of its pixels lie in the
     ambiguous band (0.25, 0.75): that is a photograph or a soft map, not a label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from augment.errors import DataError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
AMBIGUOUS_BAND = (0.25, 0.75)
MAX_AMBIGUOUS_FRACTION = 0.05


def is_image_file(path: Path) -> bool:
    """True for the file suffixes the library reads (case-insensitive)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image from its header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(
            f"cannot read image {path}: {exc}. Replace or remove the file; readable formats are "
            f"{', '.join(sorted(IMAGE_SUFFIXES))}."
        ) from exc


def _decode(path: Path) -> np.ndarray:
    """Raw pixel array (H, W) or (H, W, C) in the file's own dtype."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode in {"I;16", "I;16B", "I;16L"}:
                return np.asarray(im, dtype=np.uint16)
            elif im.mode == "I":
                return np.asarray(im, dtype=np.int64)
            elif im.mode in {"1", "CMYK", "YCbCr", "LAB", "HSV", "F"}:
                im = im.convert("L" if im.mode in {"1", "F"} else "RGB")
            return np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {exc}. Replace or remove the file.") from exc


def _unit_scale(arr: np.ndarray) -> float:
    """The value that means 'full white' for this array's bit depth."""
    if arr.dtype == np.uint8:
        return 255.0
    peak = int(arr.max()) if arr.size else 0
    return 255.0 if peak <= 255 else 65535.0


def to_rgb_uint8(arr: np.ndarray) -> np.ndarray:
    """Any decoded pixel array (gray, gray+alpha, RGB, RGBA; 8 or 16 bit) to HWC uint8 RGB.

    Alpha is composited over black so transparent padding does not turn into noise.
    """
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    scale = _unit_scale(arr)
    data = arr.astype(np.float32) / scale
    if data.shape[2] in (2, 4):
        data = data[..., :-1] * data[..., -1:]
    if data.shape[2] == 1:
        data = np.repeat(data, 3, axis=2)
    return np.clip(np.rint(data * 255.0), 0, 255).astype(np.uint8)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as HWC uint8 RGB, whatever its mode or bit depth."""
    return to_rgb_uint8(_decode(Path(path)))


def binarize_mask(arr: np.ndarray, source: str = "<array>") -> np.ndarray:
    """Apply the module's binarisation rule to a decoded mask array; HW uint8 {0, 1}.

    Raises DataError (naming `source`) when the mask is not a label map.
    """
    arr = np.asarray(arr)
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    if arr.size == 0:
        raise DataError(f"mask {source} has no pixels.")
    peak = float(arr.max())
    scale = 1.0 if peak <= 1.0 else _unit_scale(arr)
    unit = arr.astype(np.float32) / scale
    low, high = AMBIGUOUS_BAND
    ambiguous = float(np.mean((unit > low) & (unit < high)))
    if ambiguous > MAX_AMBIGUOUS_FRACTION:
        raise DataError(
            f"mask {source} is not binary: {ambiguous:.0%} of its pixels are grey "
            f"(between {low:.0%} and {high:.0%} of full scale; at most {MAX_AMBIGUOUS_FRACTION:.0%} allowed). "
            "Save the mask with 0 for background and 255 (or 1) for defect."
        )
    return (unit >= 0.5).astype(np.uint8)


def read_mask(path: str | Path) -> np.ndarray:
    """Read and binarise a mask file (see the module docstring for the rule)."""
    path = Path(path)
    return binarize_mask(_decode(path), source=str(path))


def write_png(path: str | Path, arr: np.ndarray) -> None:
    """Write an HWC uint8 image or an HW {0,1} mask (stored as 0/255) as PNG, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(arr)
    if data.ndim == 2 and data.dtype == np.uint8 and data.max(initial=0) <= 1:
        data = data * 255
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(data).save(tmp, format="PNG")
    tmp.replace(path)
