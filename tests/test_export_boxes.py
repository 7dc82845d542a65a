"""Export for box detectors: COCO read back by pycocotools, YOLO labels by their documented
convention, for real and synthetic images alike; resumable and shardable like the MVTec export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from augment.cli import main
from augment.data.imageio import read_mask
from augment.data.index import index_folder
from augment.data.pairs import read_manifest
from augment.loaders.coco import rle_encode
from augment.loaders.export import export_dataset
from augment.loaders.paste_bank import build_paste_bank
from augment.masks.boxes import mask_components

FORMATS = ["coco", "yolo"]
CLASSES = ["crack", "scratch", "spot"]


class KilledError(Exception):
    pass


@pytest.fixture(scope="module")
def bank(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_paste_bank(tiny_pills, tmp_path_factory.mktemp("bank"))


@pytest.fixture(scope="module")
def exported(bank: Path, tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export with both box formats (ratio 0.5: 9 synthetic pairs beside 36 real images)."""
    out = tmp_path_factory.mktemp("boxes") / "out"
    export_dataset(bank, tiny_pills, out, ratio=0.5, formats=FORMATS, min_area=1, progress=False)
    return out


def _images(root: Path) -> list[Path]:
    """Every image of the export's MVTec layout (the ground-truth masks excluded)."""
    return sorted(p for p in root.glob("*/*/*/*.png") if p.parts[-3] in ("train", "test"))


def _mask_of(root: Path, image: Path) -> np.ndarray | None:
    mask = root / image.parts[-4] / "ground_truth" / image.parent.name / f"{image.stem}_mask.png"
    return read_mask(mask) if image.parent.name != "good" else None


def test_coco_lists_every_exported_image(exported: Path) -> None:
    coco = COCO(str(exported / "coco.json"))
    names = {img["file_name"] for img in coco.dataset["images"]}
    assert names == {p.relative_to(exported).as_posix() for p in _images(exported)}
    assert sum(n.split("/")[-1].startswith("synthetic-") for n in names) == 9
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == CLASSES


def test_coco_round_trips_through_pycocotools(exported: Path) -> None:
    """Every annotation is one mask component: box, area and decoded mask equal the mask file's."""
    coco = COCO(str(exported / "coco.json"))
    for entry in coco.dataset["images"]:
        image = exported / entry["file_name"]
        mask = _mask_of(exported, image)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[entry["id"]]))
        expected = [] if mask is None else mask_components(mask, min_area=1)
        with Image.open(image) as im:
            assert (entry["width"], entry["height"]) == im.size
        assert [a["bbox"] for a in anns] == [
            [x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in (c.box for c in expected)
        ]
        assert [a["area"] for a in anns] == [c.area for c in expected]
        for ann, component in zip(anns, expected, strict=True):
            assert np.array_equal(coco.annToMask(ann), component.mask)
            assert coco.cats[ann["category_id"]]["name"] == image.parent.name
            rle = coco.annToRLE(ann)
            assert mask_utils.toBbox(rle).tolist() == ann["bbox"]
            assert int(mask_utils.area(rle)) == ann["area"]


def test_rle_encode_matches_pycocotools() -> None:
    rng = np.random.default_rng(0)
    for mask in (rng.random((7, 5)) > 0.5, np.ones((3, 4), bool), np.zeros((2, 2), bool)):
        ours = mask_utils.frPyObjects(rle_encode(mask), *mask.shape)
        assert np.array_equal(mask_utils.decode(ours), mask)


def _label_path(root: Path, image: Path) -> Path:
    """The YOLO convention: .../images/... -> .../labels/..., suffix -> .txt."""
    link = root / "yolo" / "images" / image.relative_to(root)
    parts = list(link.parts)
    parts[len(parts) - 1 - parts[::-1].index("images")] = "labels"
    return Path(*parts).with_suffix(".txt")


def test_yolo_labels_are_the_normalised_boxes(exported: Path) -> None:
    for image in _images(exported):
        link = exported / "yolo" / "images" / image.relative_to(exported)
        assert link.stat().st_ino == image.stat().st_ino  # a link, not a copy
        lines = _label_path(exported, image).read_text().splitlines()
        mask = _mask_of(exported, image)
        height, width = (0, 0) if mask is None else mask.shape
        expected = [] if mask is None else [
            (CLASSES.index(image.parent.name), (x0 + x1) / 2 / width, (y0 + y1) / 2 / height,
             (x1 - x0) / width, (y1 - y0) / height)
            for x0, y0, x1, y1 in (c.box for c in mask_components(mask, min_area=1))
        ]  # fmt: skip
        got = [tuple(float(v) for v in line.split()) for line in lines]
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert g[0] == e[0]
            assert g[1:] == pytest.approx(e[1:], abs=1e-8)


def test_yolo_data_yaml_names_the_classes_and_image_folders(exported: Path) -> None:
    data = yaml.safe_load((exported / "yolo" / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(CLASSES))
    assert Path(data["path"]) == (exported / "yolo").resolve()
    for split in ("train", "val"):
        assert (Path(data["path"]) / data[split]).is_dir()


def test_manifest_records_name_their_label_files(exported: Path) -> None:
    records = read_manifest(exported)
    assert len(records) == 9
    for record in records:
        assert (exported / record["yolo_image"]).is_file()
        assert (exported / record["yolo_label"]).is_file()


def test_export_with_box_formats_is_read_back_by_the_index(exported: Path) -> None:
    assert index_folder(exported).counts()["pill"]["crack"] == 6 + 3


def _files(root: Path) -> dict[str, bytes]:
    """Every file's bytes; data.yaml less its (absolute) root, which differs between folders."""
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    data = yaml.safe_load(files.pop("yolo/data.yaml"))
    files["yolo/data.yaml"] = json.dumps({k: v for k, v in data.items() if k != "path"}).encode()
    del files["manifest.jsonl"]
    return files


def test_killed_export_with_box_formats_rerun_equals_uninterrupted(
    bank: Path, tiny_pills: Path, exported: Path, tmp_path: Path
) -> None:
    def kill(written: int) -> None:
        if written >= 4:
            raise KilledError

    kwargs = {"ratio": 0.5, "formats": FORMATS, "min_area": 1, "progress": False}
    with pytest.raises(KilledError):
        export_dataset(bank, tiny_pills, tmp_path / "cut", on_pair=kill, **kwargs)
    assert not (tmp_path / "cut" / "coco.json").exists()
    export_dataset(bank, tiny_pills, tmp_path / "cut", **kwargs)
    assert _files(tmp_path / "cut") == _files(exported)


def test_ranks_one_after_another_write_coco_once_complete(
    bank: Path, tiny_pills: Path, exported: Path, tmp_path: Path
) -> None:
    kwargs = {"ratio": 0.5, "formats": FORMATS, "min_area": 1, "progress": False, "world_size": 2}
    export_dataset(bank, tiny_pills, tmp_path / "out", rank=1, **kwargs)
    assert not (tmp_path / "out" / "coco.json").exists()
    export_dataset(bank, tiny_pills, tmp_path / "out", rank=0, **kwargs)
    assert _files(tmp_path / "out") == _files(exported)


def test_export_command_writes_the_formats_asked(bank: Path, tiny_pills: Path, tmp_path: Path) -> None:
    argv = ["export", "--model", str(bank), "--data", str(tiny_pills), "--ratio", "0.5", "--defect", "spot"]
    assert main([*argv, "--out", str(tmp_path / "a"), "--format", "coco", "--format", "yolo"]) == 0
    assert (tmp_path / "a" / "coco.json").is_file()
    assert (tmp_path / "a" / "yolo" / "data.yaml").is_file()
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert not (tmp_path / "b" / "coco.json").exists()
    assert not (tmp_path / "b" / "yolo").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"formats": ["voc"]},
            r"formats must name one or more of \['mvtec', 'coco', 'yolo'\], got \['voc'\]",
        ),
        ({"formats": ["coco"], "min_area": 0}, r"min_area must be a whole number of pixels >= 1"),
    ],
)
def test_export_refuses_bad_box_settings(
    kwargs: dict, message: str, bank: Path, tiny_pills: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message):
        export_dataset(bank, tiny_pills, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()
