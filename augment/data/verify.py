"""Every file a dataset index will use, decoded once, with all problems reported together.

A factory dataset of hundreds of files often holds a few bad ones (a truncated copy, a zero-byte
file, a text file named ``.png``, an empty mask, a mask of another size). `check_rows` decodes
every image and mask in one pass and returns the problems as `Invalid` entries; `invalid_report`
groups them by reason, each group with its fix, so one run of ``defect-synth index`` names them
all. The per-file results are cached by path, size and modification time, so the several indexes
one command builds decode each file once.

`dataset_bit_depth` is the one rule for the scale of a dataset's 16-bit images (see
`augment.data.imageio`): decided once for the whole dataset, never per image.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from augment.data.imageio import BINARY_MASK_FIX, ImageInfo, inspect_image, read_mask
from augment.errors import DataError

__all__ = [
    "BIT_DEPTHS",
    "REASONS",
    "Invalid",
    "check_image",
    "check_pair",
    "dataset_bit_depth",
    "invalid_report",
]

# Significant bits a dataset's 16-bit images may be read with, when no bit depth is given or stated:
# the smallest that holds the brightest pixel of all of them (12-bit sensors are the common case).
BIT_DEPTHS = (10, 12, 14, 16)

# reason -> the fix, said once per group of files with that reason
REASONS: dict[str, str] = {
    "unreadable image": "Replace each file with a readable copy or remove it (truncated, zero-byte and "
    "non-image files land here).",
    "image too large": "Downscale or tile the file; if you trust it, raise PIL.Image.MAX_IMAGE_PIXELS.",
    "missing mask": "Add the mask, or move the image to the 'good' folder if it has no defect.",
    "unreadable mask": "Replace each mask with a readable copy, or move its image to the 'good' folder.",
    "empty mask": "Draw the defect in the mask, or move the image to the 'good' folder.",
    "mask size mismatch": "Resize the mask to the image with nearest-neighbour interpolation.",
    "grey mask": BINARY_MASK_FIX,
}


@dataclass(frozen=True)
class Invalid:
    """A file the index cannot use: the file at fault, the reason (a `REASONS` key), the details."""

    path: Path
    reason: str
    detail: str
    image: Path | None = None  # the defect image a mask problem belongs to

    @property
    def fix(self) -> str:
        return REASONS[self.reason]

    def to_record(self) -> dict[str, str]:
        return {"path": str(self.path), "reason": self.reason, "detail": self.detail}


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_size, st.st_mtime_ns


def _unreadable(path: Path, exc: DataError, what: str) -> Invalid:
    cause = exc.__cause__
    if isinstance(cause, Image.DecompressionBombError):
        return Invalid(path, "image too large", str(exc).split(". Downscale")[0] + ".")
    detail = f"cannot read image {path}: {str(cause if cause is not None else exc).rstrip('.')}."
    return Invalid(path, f"unreadable {what}", detail)


@functools.lru_cache(maxsize=8192)
def _image_info(key: tuple[str, int, int]) -> ImageInfo:
    return inspect_image(Path(key[0]))


def check_image(path: Path) -> ImageInfo | Invalid:
    """A full decode of one image (cached while the file is unchanged); `Invalid` if it fails."""
    try:
        key = _stat_key(path)
        if key[1] == 0:
            return Invalid(
                path, "unreadable image", f"cannot read image {path}: the file is empty (0 bytes)."
            )
        return _image_info(key)
    except OSError as exc:  # stat failed: a broken link or a link loop
        return Invalid(path, "unreadable image", f"cannot read image {path}: {exc.strerror or exc}.")
    except DataError as exc:
        return _unreadable(path, exc, "image")


@functools.lru_cache(maxsize=8192)
def _mask_problem(
    image: tuple[str, int, int], mask: tuple[str, int, int], size: tuple[int, int]
) -> Invalid | None:
    image_path, mask_path = Path(image[0]), Path(mask[0])
    try:
        info = _image_info(mask)
        binary = read_mask(mask_path)
    except DataError as exc:
        if exc.__cause__ is None:  # decoded, but refused by the binarisation rule
            detail = str(exc).replace(BINARY_MASK_FIX, "").strip()
            return Invalid(mask_path, "grey mask", detail, image_path)
        return _unreadable(mask_path, exc, "mask")
    if (info.width, info.height) != size:
        return Invalid(
            mask_path,
            "mask size mismatch",
            f"mask {mask_path} is {info.width}x{info.height} but its image {image_path} is "
            f"{size[0]}x{size[1]} (width x height).",
            image_path,
        )
    if not binary.any():
        return Invalid(
            mask_path,
            "empty mask",
            f"mask {mask_path} is empty (no defect pixel) but {image_path} is filed as a defect.",
            image_path,
        )
    return None


def check_pair(image: Path, mask: Path | None) -> tuple[ImageInfo | None, Invalid | None]:
    """The image's description and the first problem of the image or its mask (None: usable)."""
    info = check_image(image)
    if isinstance(info, Invalid):
        return None, info
    if mask is None:
        return info, None
    try:
        problem = _mask_problem(_stat_key(image), _stat_key(mask), (info.width, info.height))
    except OSError as exc:
        problem = Invalid(mask, "unreadable mask", f"cannot read image {mask}: {exc.strerror or exc}.", image)
    return info, problem


def dataset_bit_depth(infos: Iterable[ImageInfo], given: int | None = None) -> int | None:
    """The significant bits of a dataset's 16-bit images (None when it has none).

    ``given`` when set; else the bits their PNG ``sBIT`` chunks state, when all state the same;
    else the smallest of `BIT_DEPTHS` that holds the brightest pixel of all of them.
    """
    sixteen = [i for i in infos if i.bits == 16]
    if given is not None or not sixteen:
        return given
    stated = {i.significant_bits for i in sixteen}
    if len(stated) == 1 and None not in stated:
        return stated.pop()
    peak = max(i.peak for i in sixteen)
    return next(b for b in BIT_DEPTHS if peak < 2**b)


def invalid_report(invalid: Sequence[Invalid], root: Path, skip_hint: str) -> str:
    """All problems grouped by reason, each group with its fix; one line when only one file.

    ``skip_hint`` ends the text (how to go on without the files), e.g. "pass skip_invalid=True".
    """
    if len(invalid) == 1:
        only = invalid[0]
        return f"{only.detail} {only.fix} ({skip_hint} to go on without it.)"
    groups: dict[str, list[Invalid]] = defaultdict(list)
    for item in invalid:
        groups[item.reason].append(item)
    lines = [f"{len(invalid)} invalid files in {root} ({skip_hint} to go on without them):"]
    for reason, items in sorted(groups.items()):
        lines.append(f"  {reason} ({len(items)}): {items[0].fix}")
        lines += [f"    {i.detail.replace(f'{root}/', '')}" for i in items]
    return "\n".join(lines)
