"""LPIPS distances for IC-LPIPS, with the perceptual network injectable.

LPIPS needs ImageNet AlexNet/VGG weights that torchvision downloads; this module never downloads.
`lpips_unavailable_reason` says why LPIPS cannot run here (weights not in torch's hub cache), and
`load_lpips` builds torchmetrics' LPIPS only when they are present. Any callable
``distance(a, b) -> (B,)`` on (B, 3, S, S) tensors in [-1, 1] can be used instead (tests do).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LPIPS_NETS = {"alex": ("alexnet", "AlexNet_Weights"), "vgg": ("vgg16", "VGG16_Weights")}


def _weights_file(net: str) -> Path:
    import torchvision

    _, enum_name = LPIPS_NETS[net]
    url = getattr(torchvision.models, enum_name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def lpips_unavailable_reason(net: str = "alex") -> str | None:
    """None when LPIPS can run offline with ``net``, else why not and how to fix it."""
    if net not in LPIPS_NETS:
        return f"unknown LPIPS network {net!r}; choose one of {sorted(LPIPS_NETS)}"
    path = _weights_file(net)
    if not path.is_file():
        return (
            f"LPIPS needs torchvision's ImageNet {LPIPS_NETS[net][0]} weights at {path}, which are not "
            "there and are never downloaded here; copy that file there to enable IC-LPIPS"
        )
    return None


def load_lpips(net: str = "alex") -> Distance:
    """torchmetrics' LPIPS as a distance function; raises RuntimeError when its weights are absent."""
    reason = lpips_unavailable_reason(net)
    if reason is not None:
        raise RuntimeError(reason)
    from torchmetrics.functional.image.lpips import _LPIPS

    model = _LPIPS(pretrained=True, net=net).eval()  # type: ignore[arg-type]  # checked above

    @torch.no_grad()
    def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return model(a, b, normalize=False).reshape(-1)

    return distance


def to_lpips_tensor(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """HWC uint8 images -> (N, 3, size, size) float tensor in [-1, 1] (PIL bicubic resize)."""
    arrays = [np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BICUBIC)) for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _distances(
    a: torch.Tensor, b: torch.Tensor, pairs: list[tuple[int, int]], distance: Distance, batch_size: int
) -> np.ndarray:
    out = np.empty(len(pairs))
    for start in tqdm(range(0, len(pairs), batch_size), desc="LPIPS", unit="batch"):
        chunk = pairs[start : start + batch_size]
        i, j = zip(*chunk, strict=True)
        out[start : start + len(chunk)] = distance(a[list(i)], b[list(j)]).double().cpu().numpy()
    return out


def lpips_matrices(
    fake: Sequence[np.ndarray],
    real: Sequence[np.ndarray],
    distance: Distance,
    size: int = 256,
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """(fake x real) and symmetric (fake x fake) LPIPS distance matrices for `eval.metrics.ic_lpips`."""
    if len(fake) < 2 or len(real) < 1:
        raise ValueError(
            f"IC-LPIPS needs >= 2 generated and >= 1 real images, got {len(fake)} and {len(real)}."
        )
    ft, rt = to_lpips_tensor(fake, size), to_lpips_tensor(real, size)
    cross_pairs = [(i, j) for i in range(len(fake)) for j in range(len(real))]
    cross = _distances(ft, rt, cross_pairs, distance, batch_size).reshape(len(fake), len(real))
    upper = [(i, j) for i in range(len(fake)) for j in range(i + 1, len(fake))]
    within = np.zeros((len(fake), len(fake)))
    values = _distances(ft, ft, upper, distance, batch_size)
    for (i, j), v in zip(upper, values, strict=True):
        within[i, j] = within[j, i] = v
    return cross, within


__all__ = ["Distance", "load_lpips", "lpips_matrices", "lpips_unavailable_reason", "to_lpips_tensor"]
