"""`DefectAugment`: an albumentations transform that adds a synthetic defect, its mask and its boxes.

    A.Compose([DefectAugment("bank/", p=0.5), A.HorizontalFlip()], seed=0)(image=img, mask=mask)

For box detectors, inside ``A.Compose([...], bbox_params=A.BboxParams(format=..., label_fields=[...]))``
each new defect also gets one box per connected component of its mask (at least `min_area`
pixels), appended to ``bboxes`` in the pipeline's format, labelled with the defect type; later
transforms of the pipeline move it like any box (`augment.loaders.box_targets`).

The constructor holds only serialisable arguments (a path, ranges, a probability), so
`A.to_dict` / `A.from_dict` round-trip. The source (a bank of pairs or a saved synthesizer) is
opened lazily once per process. Randomness comes from the transform's own generator; in DataLoader
workers call `augment.loaders.wrappers.seed_worker` as `worker_init_fn`, otherwise every worker repeats the
same defects (albumentations 2.0.8 copies the generator state into each worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
from albumentations.core.bbox_utils import BboxProcessor
from albumentations.core.pydantic import check_range_bounds
from albumentations.core.transforms_interface import BaseTransformInitSchema, DualTransform
from pydantic import AfterValidator, Field

from augment.loaders.box_targets import add_boxes, add_instances, labels_joined
from augment.loaders.seeds import pick_defect
from augment.loaders.sources import DefectSource, check_defects, open_source
from augment.masks.boxes import DEFAULT_MIN_AREA, Box, mask_components

NO_DEFECT: dict[str, Any] = {
    "defect_image": None,
    "defect_mask": None,
    "defect_value": 0,
    "defect_boxes": [],
    "defect_instances": [],
    "defect_label": "",
    "labels_joined": True,
}


def union_mask(mask: np.ndarray, defect_mask: np.ndarray, value: int) -> np.ndarray:
    """`mask` with the defect's pixels set to `value` (binary masks: 1), shape and dtype kept.

    One pass of `np.copyto` (this runs once per sample in data loaders).
    """
    on = defect_mask > 0
    out = mask.copy()
    np.copyto(out, np.asarray(value, dtype=mask.dtype), where=on[..., None] if mask.ndim == 3 else on)
    return out


class DefectAugment(DualTransform):
    """Paste (bank) or paint (synthesizer) one defect into `image`, union its mask into `mask` and
    add its boxes to `bboxes`.

    Args:
        source: folder of a bank of pairs (``manifest.jsonl``) or of a saved synthesizer.
        defects: defect types to draw from (default: all of the source's), uniformly.
        strength_range: defect strength drawn per call; 1 is the stored/generated defect at full
            strength, 0 leaves the image unchanged.
        class_map: defect type -> value written into `mask` and label of its boxes; None writes 1
            into `mask` and labels boxes with the defect type's name.
        min_area: components of the defect's mask smaller than this many pixels get no box.
        return_instances: also append each new box's own mask (0/1) to the `masks` target, in box
            order (Mask R-CNN-style training); existing masks and boxes stay as they are.
        p: probability of adding a defect.
    """

    class InitSchema(BaseTransformInitSchema):
        source: str
        defects: list[str] | None
        strength_range: Annotated[tuple[float, float], AfterValidator(check_range_bounds(0, 1))]
        class_map: dict[str, int] | None
        min_area: int = Field(ge=1)
        return_instances: bool

    def __init__(
        self,
        source: str,
        defects: list[str] | None = None,
        strength_range: tuple[float, float] = (0.5, 1.0),
        class_map: dict[str, int] | None = None,
        min_area: int = DEFAULT_MIN_AREA,
        return_instances: bool = False,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        self.source = str(source)
        self.defects = list(defects) if defects else None
        self.strength_range = (float(strength_range[0]), float(strength_range[1]))
        self.class_map = dict(class_map) if class_map else None
        self.min_area = int(min_area)
        self.return_instances = bool(return_instances)
        if self.class_map and self.defects:
            missing = [d for d in self.defects if d not in self.class_map]
            if missing:
                raise ValueError(
                    f"class_map has no value for defect type(s) {missing}; give one per type "
                    f"in defects={self.defects}."
                )

    def _source(self) -> DefectSource:
        source = open_source(self.source)
        check_defects(source.defects, self.defects, self.source)
        return source

    @property
    def targets_as_params(self) -> list[str]:
        return ["image"]

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Make the defect here, once per call, so image and mask get the same one."""
        source = self._source()
        defect = pick_defect(source.defects, self.defects, self.random_generator)
        strength = self.py_random.uniform(*self.strength_range)
        seed = int(self.random_generator.integers(2**31))
        pair = source.make(np.asarray(data["image"]), defect, strength, seed)
        if pair is None:
            return dict(NO_DEFECT)
        if self.class_map and defect not in self.class_map:
            raise ValueError(
                f"class_map has no value for defect type {defect!r}; add one, or restrict defects."
            )
        wanted = "bboxes" in data or self.return_instances  # components cost a labelling pass
        components = mask_components(pair.mask, self.min_area) if wanted else []
        return {
            "defect_image": pair.image,
            "defect_mask": pair.mask,
            "defect_value": self.class_map[defect] if self.class_map else 1,
            "defect_boxes": [c.box for c in components],
            "defect_instances": [c.mask for c in components],
            "defect_label": self.class_map[defect] if self.class_map else defect,
            "labels_joined": labels_joined(self._bbox_processor(), data),
        }

    def _bbox_processor(self) -> BboxProcessor | None:
        """The pipeline's box processor (format, label fields, label encoder); None outside one."""
        processor = self.get_processor("bboxes")
        return processor if isinstance(processor, BboxProcessor) else None

    def apply(self, img: np.ndarray, defect_image: np.ndarray | None = None, **params: Any) -> np.ndarray:
        return img if defect_image is None else defect_image

    def apply_to_mask(
        self, mask: np.ndarray, defect_mask: np.ndarray | None = None, defect_value: int = 1, **params: Any
    ) -> np.ndarray:
        return mask if defect_mask is None else union_mask(mask, defect_mask, defect_value)

    def apply_to_masks(self, masks: np.ndarray, **params: Any) -> np.ndarray:
        """With `return_instances`, `masks` are instances and stay as they are (the new ones are
        appended in `apply_with_params`); otherwise each gets the defect like `mask`."""
        return masks if self.return_instances else super().apply_to_masks(masks, **params)

    def apply_to_bboxes(
        self,
        bboxes: np.ndarray,
        defect_boxes: Sequence[Box] = (),
        defect_label: str | int = "",
        defect_value: int = 1,
        labels_joined: bool = True,
        shape: tuple[int, ...] = (),
        **params: Any,
    ) -> np.ndarray:
        processor = self._bbox_processor()
        return add_boxes(bboxes, defect_boxes, shape, processor, defect_label, defect_value, labels_joined)

    def apply_with_params(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The usual targets, plus the new defect's instance masks appended to `masks` when asked.

        Done here because albumentations hands an empty or missing `masks` to no apply method.
        """
        result = super().apply_with_params(params, *args, **kwargs)
        instances = params.get("defect_instances")
        if self.return_instances and instances:
            result["masks"] = add_instances(kwargs.get("masks"), instances)
        return result

    def apply_to_keypoints(self, keypoints: np.ndarray, **params: Any) -> np.ndarray:
        return keypoints

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("source", "defects", "strength_range", "class_map", "min_area", "return_instances")


__all__ = ["DefectAugment", "union_mask"]
