"""A feature cache keyed by everything that changes the features.

The key hashes the ordered file list with each file's content hash, the network id, the resize
mode, the resolution, the feature dimension and whether logits were kept, so a changed image,
network or preprocessing can never reuse stale features. Entries are ``<key>.npz`` files
(written atomically) with a ``<key>.json`` sidecar saying what they hold.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import nn

from augment.data.imageio import read_image
from eval.features import FeatureSpec, extract_features, feature_spec


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_key(
    files: Sequence[str | Path], spec: FeatureSpec, with_logits: bool = False, bit_depth: int | None = None
) -> str:
    """Hex key of (file paths and content hashes in order, feature spec, logits flag, and the bit
    depth 16-bit files are read with when one is set)."""
    payload: dict[str, object] = {
        "files": [[str(Path(f).resolve()), file_digest(f)] for f in files],
        "spec": spec.to_dict(),
        "with_logits": bool(with_logits),
    }
    if bit_depth is not None:
        payload["bit_depth"] = bit_depth
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class FeatureCache:
    """Folder of cached feature arrays; ``get``/``put`` by key."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        path = self.root / f"{key}.npz"
        if not path.is_file():
            return None
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    def put(self, key: str, arrays: dict[str, np.ndarray], meta: dict[str, object]) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{key}.npz"
        tmp = self.root / f".{key}.{os.getpid()}.tmp.npz"
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
        (self.root / f"{key}.json").write_text(json.dumps(meta, indent=2, default=str))
        return path


def cached_features(
    files: Sequence[str | Path],
    extractor: nn.Module,
    cache: FeatureCache | None = None,
    batch_size: int = 16,
    resize_mode: str = "clean",
    resolution: int | None = None,
    with_logits: bool = False,
    bit_depth: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features (and logits when asked and available) of image files, through the cache when given;
    16-bit files are read with ``bit_depth`` (their dataset's, see augment.data.index)."""
    if not files:
        raise ValueError("no image files given to extract features from.")
    spec = feature_spec(extractor, resize_mode, resolution)
    key = cache_key(files, spec, with_logits, bit_depth) if cache is not None else ""
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        return hit["features"], hit.get("logits")
    images = (read_image(Path(f), bit_depth) for f in files)
    feats, logits = extract_features(
        _Sized(images, len(files)), extractor, batch_size, resize_mode, spec.resolution, with_logits
    )
    if cache is not None:
        arrays = {"features": feats} | ({"logits": logits} if logits is not None else {})
        cache.put(key, arrays, {"spec": spec.to_dict(), "n": len(files), "first_file": str(files[0])})
    return feats, logits


class _Sized:
    """An iterator with a length, so progress bars know the total without loading every image."""

    def __init__(self, it, n: int) -> None:
        self._it, self._n = it, n

    def __iter__(self):
        return iter(self._it)

    def __len__(self) -> int:
        return self._n


__all__ = ["FeatureCache", "cache_key", "cached_features", "file_digest"]
