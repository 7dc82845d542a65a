"""`DefectAugment`: an albumentations transform that adds a synthetic defect and its mask.

    A.Compose([DefectAugment("bank/", p=0.5), A.HorizontalFlip()], seed=0)(image=img, mask=mask)

The constructor holds only serialisable arguments (a path, ranges, a probability), so
`A.to_dict` / `A.from_dict` round-trip. The source (a bank of pairs or a saved synthesizer) is
opened lazily once per process. Randomness comes from the transform's own generator; in DataLoader
workers call `augment.loaders.wrappers.seed_worker` as `worker_init_fn`, otherwise every worker repeats the
same defects (albumentations 2.0.8 copies the generator state into each worker).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from albumentations.core.pydantic import check_range_bounds
from albumentations.core.transforms_interface import BaseTransformInitSchema, DualTransform
from pydantic import AfterValidator

from augment.loaders.seeds import pick_defect
from augment.loaders.sources import DefectSource, check_defects, open_source


def union_mask(mask: np.ndarray, defect_mask: np.ndarray, value: int) -> np.ndarray:
    """`mask` with the defect's pixels set to `value` (binary masks: 1), shape and dtype kept.

    One pass of `np.copyto` (this runs once per sample in data loaders).
    """
    on = defect_mask > 0
    out = mask.copy()
    np.copyto(out, np.asarray(value, dtype=mask.dtype), where=on[..., None] if mask.ndim == 3 else on)
    return out


class DefectAugment(DualTransform):
    """Paste (bank) or paint (synthesizer) one defect into `image` and union its mask into `mask`.

    Args:
        source: folder of a bank of pairs (``manifest.jsonl``) or of a saved synthesizer.
        defects: defect types to draw from (default: all of the source's), uniformly.
        strength_range: defect strength drawn per call; 1 is the stored/generated defect at full
            strength, 0 leaves the image unchanged.
        class_map: defect type -> value written into `mask`; None writes 1 (binary masks).
        p: probability of adding a defect.
    """

    class InitSchema(BaseTransformInitSchema):
        source: str
        defects: list[str] | None
        strength_range: Annotated[tuple[float, float], AfterValidator(check_range_bounds(0, 1))]
        class_map: dict[str, int] | None

    def __init__(
        self,
        source: str,
        defects: list[str] | None = None,
        strength_range: tuple[float, float] = (0.5, 1.0),
        class_map: dict[str, int] | None = None,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        self.source = str(source)
        self.defects = list(defects) if defects else None
        self.strength_range = (float(strength_range[0]), float(strength_range[1]))
        self.class_map = dict(class_map) if class_map else None
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
            return {"defect_image": None, "defect_mask": None, "defect_value": 0}
        if self.class_map and defect not in self.class_map:
            raise ValueError(
                f"class_map has no value for defect type {defect!r}; add one, or restrict defects."
            )
        value = self.class_map[defect] if self.class_map else 1
        return {"defect_image": pair.image, "defect_mask": pair.mask, "defect_value": value}

    def apply(self, img: np.ndarray, defect_image: np.ndarray | None = None, **params: Any) -> np.ndarray:
        return img if defect_image is None else defect_image

    def apply_to_mask(
        self, mask: np.ndarray, defect_mask: np.ndarray | None = None, defect_value: int = 1, **params: Any
    ) -> np.ndarray:
        return mask if defect_mask is None else union_mask(mask, defect_mask, defect_value)

    def apply_to_bboxes(self, bboxes: np.ndarray, **params: Any) -> np.ndarray:
        return bboxes

    def apply_to_keypoints(self, keypoints: np.ndarray, **params: Any) -> np.ndarray:
        return keypoints

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("source", "defects", "strength_range", "class_map")


__all__ = ["DefectAugment", "union_mask"]
