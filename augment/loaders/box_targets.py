"""A new defect's boxes and instance masks as albumentations 2.0.8 targets inside a ``Compose``.

Inside a ``Compose`` with ``bbox_params``, ``bboxes`` reach a transform in albumentations' own
format (``x_min, y_min, x_max, y_max`` divided by the image size), followed by any extra columns
the user gave and then one column per ``label_fields`` entry, encoded by the pipeline's
``LabelManager`` (numbers as themselves, strings as indices). The pipeline converts back to the
declared format and decodes the labels at the end, so rows added here in the internal format come
out in whatever format the user asked for, and later geometric transforms move them.

One trap: the label columns are joined to the boxes only when the call's boxes were not empty; an
image with no box keeps its label lists aside until the end. `add_boxes` is told which (see
`labels_joined`) and lays its rows out to match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from albumentations.core.bbox_utils import BboxProcessor

from augment.masks.boxes import Box, normalised_box

__all__ = ["add_boxes", "add_instances", "labels_joined"]

Label = str | int


def labels_joined(processor: BboxProcessor | None, data: Mapping[str, Any]) -> bool:
    """Whether this call's ``bboxes`` carry the label columns: the pipeline joined them (and took the
    label lists out of the data) because the call came with boxes."""
    fields = [] if processor is None else list(processor.params.label_fields or [])
    return not any(field in data for field in fields)


def _encoded(processor: BboxProcessor, field: str, label: Label, n: int) -> np.ndarray:
    """`label` n times as the pipeline encodes field `field` (registering a new string label)."""
    metadata = processor.label_manager.metadata["bboxes"].get(field)
    if metadata is not None and metadata.is_numerical and isinstance(label, str):
        raise ValueError(
            f"the label field {field!r} holds numbers but DefectAugment's label is the defect name "
            f"{label!r}; pass class_map={{{label!r}: <class id>, ...}} to DefectAugment so its boxes "
            "get numeric labels."
        )
    encoded = processor.label_manager.process_field("bboxes", field, [label] * n)
    return np.asarray(encoded, dtype=np.float32).reshape(n, 1)


def add_boxes(
    bboxes: np.ndarray,
    boxes: Sequence[Box],
    shape: tuple[int, ...],
    processor: BboxProcessor | None,
    label: Label,
    value: int,
    joined: bool,
) -> np.ndarray:
    """`bboxes` (internal format) with one row per box of `boxes` (pixels) appended.

    Label columns get `label`; extra columns the user's boxes carry beyond the coordinates and
    labels get `value` (the class value the mask gets).
    """
    if not boxes:
        return bboxes
    if processor is None:
        raise ValueError(
            "DefectAugment adds boxes only inside A.Compose([...], bbox_params=A.BboxParams(...)): "
            "the pipeline's box format and label fields say how the new boxes are written."
        )
    fields = list(processor.params.label_fields or [])
    existing = np.asarray(bboxes, dtype=np.float32)
    columns = existing.shape[1] if existing.ndim == 2 else 4
    extra = columns - 4 - (len(fields) if joined else 0)
    rows = [
        np.array([normalised_box(b, shape) for b in boxes], dtype=np.float32),
        np.full((len(boxes), max(extra, 0)), value, dtype=np.float32),
        *(_encoded(processor, field, label, len(boxes)) for field in fields),
    ]
    new = np.hstack(rows)
    return new if existing.size == 0 else np.vstack([existing, new])


def add_instances(
    masks: np.ndarray | Sequence[np.ndarray] | None, instances: Sequence[np.ndarray]
) -> np.ndarray:
    """`masks` (N, H, W[, C]) with the `instances` (HW bool) appended as 0/1 masks of the same dtype.

    With no masks yet (none given, or an empty list) the result is a (K, H, W) uint8 array; the
    pipeline gives a list back when the call passed one.
    """
    if masks is None or len(masks) == 0:
        return np.stack([np.asarray(m, dtype=np.uint8) for m in instances])
    existing = np.asarray(masks)
    new = np.stack(instances).astype(existing.dtype)
    if existing.ndim == new.ndim + 1:
        new = np.repeat(new[..., None], existing.shape[-1], axis=-1)
    return np.concatenate([existing, new])
