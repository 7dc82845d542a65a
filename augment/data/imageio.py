"""Reading images and masks of any common format into one array convention.

Images come back as HWC uint8 RGB; masks as HW uint8 in {0, 1}. Every reader raises
`DataError` naming the file and the fix, so a bad file is never skipped silently.

Bit depth rule for images (never guessed from one image's own pixels):
  * 8-bit files are scaled by 255;
  * 16-bit files by ``2**bits - 1``, where ``bits`` is, in this order: the ``bit_depth`` the
    caller passes (a dataset's, decided once for all its files by `augment.data.index`), the
    significant bits a PNG states in its ``sBIT`` chunk, else 16. Values above full scale clip.

Mask binarisation rule (stated once, used everywhere):
  1. colour or alpha masks are reduced to one channel by the per-pixel maximum;
  2. values are scaled to [0, 1] by the file's bit depth (255 for 8 bit, 65535 for 16 bit; a
     16-bit mask holding 8-bit values, at most 255, by 255); a mask whose maximum is 1 (a 0/1
     label map) is taken as already binary;
  3. a pixel is defect where the scaled value is >= 0.5;
  4. a mask is refused as "not binary" when more than 5% of its pixels lie in the
     ambiguous band (0.25, 0.75): that is a photograph or a soft map, not a label.

Pillow refuses images above twice its ``MAX_IMAGE_PIXELS`` (a decompression-bomb guard); such a
file is a `DataError` that says how large it is and how to proceed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from augment.data.outputs import writing
from augment.errors import DataError

__all__ = [
    "BINARY_MASK_FIX",
    "IMAGE_SUFFIXES",
    "ImageInfo",
    "binarize_mask",
    "image_size",
    "inspect_image",
    "is_image_file",
    "png_significant_bits",
    "read_image",
    "read_mask",
    "to_rgb_uint8",
    "write_png",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
BINARY_MASK_FIX = "Save the mask with 0 for background and 255 (or 1) for defect."
AMBIGUOUS_BAND = (0.25, 0.75)
MAX_AMBIGUOUS_FRACTION = 0.05


def is_image_file(path: Path) -> bool:
    """True for the file suffixes the library reads (case-insensitive)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _read_error(path: Path, exc: BaseException) -> DataError:
    """The DataError for a file Pillow cannot open or decode: what it is, and the fix."""
    if isinstance(exc, Image.DecompressionBombError):
        return DataError(
            f"cannot read image {path}: it has more pixels than Pillow opens ({exc}). Downscale or tile "
            "the file; if you trust it, raise PIL.Image.MAX_IMAGE_PIXELS before reading."
        )
    if isinstance(exc, OSError) and exc.errno is not None and "symbolic link" in str(exc):
        return DataError(f"cannot read image {path}: {exc.strerror}. Fix or remove the link.")
    return DataError(
        f"cannot read image {path}: {exc}. Replace or remove the file (it may be truncated, empty or "
        f"not an image despite its suffix); readable formats are {', '.join(sorted(IMAGE_SUFFIXES))}."
    )


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image from its header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise _read_error(path, exc) from exc


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
                return np.clip(np.asarray(im, dtype=np.int64), 0, 65535).astype(np.uint16)
            elif im.mode in {"1", "CMYK", "YCbCr", "LAB", "HSV", "F"}:
                im = im.convert("L" if im.mode in {"1", "F"} else "RGB")
            return np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _read_error(path, exc) from exc


def png_significant_bits(path: Path) -> int | None:
    """The significant bits a PNG states in its ``sBIT`` chunk (largest channel), or None.

    Pillow does not expose ``sBIT``, so the chunks before the image data are read here.
    """
    try:
        with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            while header := f.read(8):
                if len(header) < 8:
                    return None
                length, kind = struct.unpack(">I4s", header)
                if kind in (b"IDAT", b"IEND"):
                    return None
                data = f.read(length)
                f.seek(4, 1)  # CRC
                if kind == b"sBIT" and data:
                    return max(data)
    except OSError:
        return None
    return None


def _full_scale(arr: np.ndarray, bit_depth: int | None) -> float:
    """The value that means 'full white': 255 for 8-bit data, ``2**bit_depth - 1`` for 16-bit."""
    if arr.dtype == np.uint8:
        return 255.0
    return float(2 ** (bit_depth or 16) - 1)


def to_rgb_uint8(arr: np.ndarray, bit_depth: int | None = None) -> np.ndarray:
    """Any decoded pixel array (gray, gray+alpha, RGB, RGBA; 8 or 16 bit) to HWC uint8 RGB.

    16-bit data is scaled by ``2**bit_depth - 1`` (default 16 bits); alpha is composited over
    black so transparent padding does not turn into noise.
    """
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    data = arr.astype(np.float32) / _full_scale(arr, bit_depth)
    if data.shape[2] in (2, 4):
        data = data[..., :-1] * np.clip(data[..., -1:], 0.0, 1.0)
    if data.shape[2] == 1:
        data = np.repeat(data, 3, axis=2)
    return np.clip(np.rint(data * 255.0), 0, 255).astype(np.uint8)


def read_image(path: str | Path, bit_depth: int | None = None) -> np.ndarray:
    """Read an image file as HWC uint8 RGB; 16-bit files by the module's bit depth rule."""
    path = Path(path)
    arr = _decode(path)
    if arr.dtype != np.uint8 and bit_depth is None:
        bit_depth = png_significant_bits(path)
    return to_rgb_uint8(arr, bit_depth)


@dataclass(frozen=True)
class ImageInfo:
    """What a full decode of one file tells: size, container bits, stated bits, brightest value."""

    width: int
    height: int
    bits: int  # 8 or 16: the container
    significant_bits: int | None  # from a PNG sBIT chunk
    peak: int  # the brightest value (16-bit files; 0 for 8-bit ones, where it decides nothing)


def inspect_image(path: Path) -> ImageInfo:
    """Decode a whole file (so a truncated one fails here) and describe it; DataError if unreadable."""
    arr = _decode(path)
    h, w = arr.shape[:2]
    if arr.dtype == np.uint8:
        return ImageInfo(w, h, 8, None, 0)
    return ImageInfo(w, h, 16, png_significant_bits(path), int(arr.max()) if arr.size else 0)


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
    scale = 1.0 if peak <= 1.0 else 255.0 if arr.dtype == np.uint8 or peak <= 255 else 65535.0
    unit = arr.astype(np.float32) / scale
    low, high = AMBIGUOUS_BAND
    ambiguous = float(np.mean((unit > low) & (unit < high)))
    if ambiguous > MAX_AMBIGUOUS_FRACTION:
        raise DataError(
            f"mask {source} is not binary: {ambiguous:.0%} of its pixels are grey "
            f"(between {low:.0%} and {high:.0%} of full scale; at most {MAX_AMBIGUOUS_FRACTION:.0%} allowed). "
            + BINARY_MASK_FIX
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
    with writing(path):
        Image.fromarray(data).save(tmp, format="PNG")
        tmp.replace(path)
