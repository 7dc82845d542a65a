"""DefectAugment for box detectors: new boxes in every BboxParams format, labels, later transforms,
instance masks. A fixed source pastes a known mask, so every expected box is known exactly."""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import pytest

from augment.data.index import index_folder, load_sample_arrays
from augment.data.pairs import SyntheticPair
from augment.loaders.paste_bank import build_paste_bank
from augment.loaders.transform import DefectAugment
from augment.masks.boxes import mask_components

H, W = 40, 60  # not square: a swapped x and y shows
BLOB = (10, 5, 30, 15)  # x_min, y_min, x_max, y_max of the fixed defect, maxima exclusive
EXPECTED = {  # BLOB in each albumentations format
    "pascal_voc": [10, 5, 30, 15],
    "albumentations": [10 / W, 5 / H, 30 / W, 15 / H],
    "coco": [10, 5, 20, 10],
    "yolo": [20 / W, 10 / H, 20 / W, 10 / H],
}


def _mask(*rects: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    for x0, y0, x1, y1 in rects:
        mask[y0:y1, x0:x1] = 1
    return mask


class FixedSource:
    """A source that always paints the same mask white, cut to the image (None: it never fits)."""

    kind, origin, fingerprint, defects = "fixed", "fixed", "0", ["crack"]

    def __init__(self, mask: np.ndarray | None) -> None:
        self.mask = mask

    def make(self, image: np.ndarray, defect: str, strength: float, seed: int) -> SyntheticPair | None:
        if self.mask is None:
            return None
        mask = self.mask[: image.shape[0], : image.shape[1]].copy()
        out = image.copy()
        out[mask > 0] = 255
        return SyntheticPair(out, mask, {"defect": defect})


@pytest.fixture
def paint(monkeypatch: pytest.MonkeyPatch):
    """Make DefectAugment's source paste the given mask."""

    def use(mask: np.ndarray | None) -> None:
        monkeypatch.setattr("augment.loaders.transform.open_source", lambda path: FixedSource(mask))

    return use


def _run(transforms: list, fmt: str = "pascal_voc", bboxes=(), labels=(), **targets) -> dict:
    pipeline = A.Compose(transforms, bbox_params=A.BboxParams(format=fmt, label_fields=["labels"]), seed=0)
    image = np.zeros((H, W, 3), np.uint8)
    mask = np.zeros((H, W), np.uint8)
    return pipeline(image=image, mask=mask, bboxes=list(bboxes), labels=list(labels), **targets)


def _mask_box(mask: np.ndarray) -> list[int]:
    """pascal_voc box of every defect pixel of a mask."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_one_defect_on_an_image_without_boxes_gives_its_mask_box(paint, fmt: str) -> None:
    paint(_mask(BLOB))
    out = _run([DefectAugment("src", p=1)], fmt)
    assert len(out["bboxes"]) == 1
    assert out["bboxes"][0] == pytest.approx(EXPECTED[fmt], abs=1e-5)
    assert out["labels"] == ["crack"]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (A.HorizontalFlip(p=1), [W - 30, 5, W - 10, 15]),
        (A.VerticalFlip(p=1), [10, H - 15, 30, H - 5]),
        (A.Crop(x_min=5, y_min=2, x_max=45, y_max=30), [5, 3, 25, 13]),
    ],
    ids=["hflip", "vflip", "crop"],
)
def test_later_geometric_transforms_move_the_new_box(paint, after, expected: list[int]) -> None:
    paint(_mask(BLOB))
    out = _run([DefectAugment("src", p=1), after])
    assert out["bboxes"] == [pytest.approx(expected, abs=1e-4)]
    assert _mask_box(out["mask"]) == expected


def test_a_two_component_defect_gives_two_boxes(paint) -> None:
    paint(_mask((2, 3, 8, 9), (40, 20, 55, 36)))
    out = _run([DefectAugment("src", p=1)])
    assert out["bboxes"] == [pytest.approx([2, 3, 8, 9]), pytest.approx([40, 20, 55, 36])]
    assert out["labels"] == ["crack", "crack"]


def test_specks_below_min_area_get_no_box(paint) -> None:
    paint(_mask(BLOB, (50, 30, 52, 31)))
    out = _run([DefectAugment("src", p=1, min_area=3)])
    assert out["bboxes"] == [pytest.approx(EXPECTED["pascal_voc"])]
    assert out["mask"][30, 50] == 1  # the speck is still in the mask


def test_existing_boxes_and_labels_stay(paint) -> None:
    paint(_mask(BLOB))
    out = _run([DefectAugment("src", p=1)], bboxes=[[12, 6, 20, 12]], labels=["dent"])
    assert out["bboxes"] == [pytest.approx([12, 6, 20, 12]), pytest.approx(EXPECTED["pascal_voc"])]
    assert out["labels"] == ["dent", "crack"]


def test_class_map_gives_numeric_labels(paint) -> None:
    paint(_mask(BLOB))
    out = _run([DefectAugment("src", p=1, class_map={"crack": 3})], bboxes=[[0, 0, 4, 4]], labels=[7])
    assert out["labels"] == [7, 3]
    assert out["mask"].max() == 3


def test_numeric_labels_without_class_map_are_refused(paint) -> None:
    paint(_mask(BLOB))
    with pytest.raises(ValueError, match=r"holds numbers .* pass class_map=\{'crack': <class id>"):
        _run([DefectAugment("src", p=1)], bboxes=[[0, 0, 4, 4]], labels=[7])


def test_a_box_comes_out_after_a_crop_dropped_every_earlier_box(paint) -> None:
    """Boxes that came with the call and were all cropped away: the label columns are still joined."""
    paint(_mask(BLOB))
    out = _run([A.Crop(0, 0, W, 20), DefectAugment("src", p=1)], bboxes=[[0, 30, 6, 38]], labels=["dent"])
    assert out["bboxes"] == [pytest.approx(EXPECTED["pascal_voc"])]
    assert out["labels"] == ["crack"]


@pytest.mark.parametrize("mask", [None, "no-defect"], ids=["source-fails", "p0"])
def test_no_defect_no_new_box(paint, mask: str | None) -> None:
    paint(None if mask is None else _mask(BLOB))
    out = _run([DefectAugment("src", p=1 if mask is None else 0)], bboxes=[[1, 1, 5, 5]], labels=["dent"])
    assert out["bboxes"] == [pytest.approx([1, 1, 5, 5])]
    assert out["labels"] == ["dent"]


@pytest.mark.parametrize("given", [[], [np.ones((H, W), np.uint8)]], ids=["empty", "one-existing"])
def test_instances_are_appended_to_masks_in_box_order(paint, given: list[np.ndarray]) -> None:
    paint(_mask((2, 3, 8, 9), (40, 20, 55, 36)))
    out = _run([DefectAugment("src", p=1, return_instances=True)], masks=list(given))
    masks = list(out["masks"])
    assert len(masks) == len(given) + 2
    assert all(np.array_equal(m, g) for m, g in zip(masks, given, strict=False))
    assert np.array_equal(masks[-2], _mask((2, 3, 8, 9)))
    assert np.array_equal(masks[-1], _mask((40, 20, 55, 36)))


def test_boxes_outside_a_compose_with_bbox_params_are_refused(paint) -> None:
    paint(_mask(BLOB))
    with pytest.raises(ValueError, match=r"only inside A.Compose\(\[...\], bbox_params="):
        DefectAugment("src", p=1)(image=np.zeros((H, W, 3), np.uint8), bboxes=np.zeros((0, 4)))


def test_box_settings_survive_to_dict_from_dict() -> None:
    aug = DefectAugment("src", min_area=9, return_instances=True)
    restored = A.from_dict(A.to_dict(A.Compose([aug])))
    assert (restored.transforms[0].min_area, restored.transforms[0].return_instances) == (9, True)


def test_pasted_bank_defects_get_their_mask_boxes(tiny_pills: Path, tmp_path: Path) -> None:
    """The real copy-paste source: each new box is a component box of the returned mask."""
    bank = build_paste_bank(tiny_pills, tmp_path / "bank", per_shot=2)
    image, mask = load_sample_arrays(next(s for s in index_folder(tiny_pills).samples if s.is_good))
    pipeline = A.Compose(
        [DefectAugment(str(bank), p=1, min_area=1)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
        seed=2,
    )
    for _ in range(4):
        out = pipeline(image=image, mask=mask, bboxes=[], labels=[])
        expected = [list(c.box) for c in mask_components(out["mask"], min_area=1)]
        assert [[round(v) for v in box] for box in out["bboxes"]] == expected
        assert len(out["labels"]) == len(expected) >= 1
        assert set(out["labels"]) <= {"crack", "scratch", "spot"}


def test_without_return_instances_masks_get_the_defect_like_mask(paint) -> None:
    paint(_mask(BLOB))
    out = _run([DefectAugment("src", p=1)], masks=[np.zeros((H, W), np.uint8)])
    assert len(out["masks"]) == 1
    assert np.array_equal(out["masks"][0], _mask(BLOB))
