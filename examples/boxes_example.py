"""Box detectors: the data side of a training loop, with synthetic defects that come with their boxes.

python examples/boxes_example.py --data DATA_DIR --out OUT_DIR [--source BANK_OR_MODEL] [--batches 2]

A dataset of images with boxes and class ids, `DefectAugment` in an albumentations pipeline with
`BboxParams` (each new defect gets its boxes, flipped with the image), a DataLoader whose collate
keeps each image's own number of boxes (torchvision's detection convention: a list of targets), and
a contact sheet with the boxes drawn (``OUT_DIR/contact_sheet.png``, or ``--sheet``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from augment import DefectAugment, index_folder, load_sample_arrays, mask_components, seed_worker
from augment.data.index import Sample
from augment.data.sheets import draw_boxes, save_contact_sheet

COLOURS = [(255, 40, 40), (40, 220, 255), (255, 220, 40), (120, 255, 80), (255, 80, 255)]


class BoxDataset(Dataset):
    """Images with their defect boxes (pascal_voc pixels) and class ids (from 1), passed through
    `transform` albumentations-style. The boxes come from the dataset's masks here; a box detector's
    own dataset reads them from its annotations instead."""

    def __init__(self, samples: list[Sample], class_ids: dict[str, int], transform: A.Compose) -> None:
        self.samples, self.class_ids, self.transform = samples, class_ids, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        sample = self.samples[i]
        image, mask = load_sample_arrays(sample)
        boxes = [list(c.box) for c in mask_components(mask)]  # none for a defect-free image
        labels = [self.class_ids.get(sample.defect, 0)] * len(boxes)
        out = self.transform(image=image, bboxes=boxes, labels=labels)
        target = {
            "boxes": torch.as_tensor(np.asarray(out["bboxes"], np.float32).reshape(-1, 4)),
            "labels": torch.as_tensor(np.asarray(out["labels"], np.int64)),
        }
        return torch.from_numpy(out["image"]).permute(2, 0, 1).float() / 255, target


def collate_boxes(batch: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> tuple[torch.Tensor, list]:
    """Images stacked into one tensor; targets kept as a list, one dict per image (any box count)."""
    images, targets = zip(*batch, strict=True)
    return torch.stack(images), list(targets)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset folder (MVTec or generic layout)")
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--source", help="bank, saved synthesizer or dataset to copy-paste from (default: --data)"
    )
    parser.add_argument("--p", type=float, default=1.0, help="probability of a synthetic defect per image")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=2, help="batches drawn into the contact sheet")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--tile", type=int, default=160, help="contact sheet tile size in pixels")
    parser.add_argument("--sheet", help="contact sheet path (default: OUT/contact_sheet.png)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    index = index_folder(args.data)
    class_ids = {d: k for k, d in enumerate(index.defects, start=1)}  # 0 is background
    names = {k: d for d, k in class_ids.items()}
    pipeline = A.Compose(
        [
            DefectAugment(args.source or args.data, p=args.p, class_map=class_ids),
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
        ],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
        seed=args.seed,
    )
    loader = DataLoader(
        BoxDataset(index.samples, class_ids, pipeline),
        batch_size=args.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(args.seed),
        collate_fn=collate_boxes,
        num_workers=args.workers,
        worker_init_fn=seed_worker,
    )
    tiles: list[tuple[np.ndarray, None, str]] = []
    records: list[dict[str, Any]] = []
    for (images, targets), _ in zip(loader, range(args.batches), strict=False):
        for image, target in zip(images, targets, strict=True):
            boxes, labels = target["boxes"].tolist(), target["labels"].tolist()
            picture = (image.permute(1, 2, 0) * 255).round().byte().numpy()
            drawn = draw_boxes(picture, boxes, [COLOURS[k % len(COLOURS)] for k in labels])
            tiles.append((drawn, None, ", ".join(names[k] for k in labels) or "no defect"))
            records.append({"boxes": boxes, "labels": [names[k] for k in labels]})
    out = Path(args.out)
    sheet = save_contact_sheet(args.sheet or out / "contact_sheet.png", tiles, columns=4, tile_size=args.tile)
    out.mkdir(parents=True, exist_ok=True)
    (out / "boxes.json").write_text(json.dumps(records, indent=1))
    print(f"{len(records)} images, {sum(len(r['boxes']) for r in records)} boxes; sheet: {sheet}")


if __name__ == "__main__":
    main()
