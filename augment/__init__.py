"""defect-synth's augmentation side: data reading, few-shot splits, synthesis and training hooks.

This file is the public face; the code lives in sub-packages by job, one floor above another
(``docs/architecture.md``). Light modules (the data layer, the errors) are imported eagerly; the
heavy ones (torch models, diffusers, albumentations) load on first attribute access, so
``import augment`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from augment.data.imageio import read_image, read_mask
from augment.data.index import GOOD, DatasetIndex, Sample, index_folder, load_sample_arrays
from augment.data.pairs import SyntheticPair, iter_bank, read_manifest, write_pair
from augment.data.split import FewShotSplit, load_split, make_split
from augment.errors import DataError, InvalidFilesError, OutputError, TooFewPairsError, TrainingDivergedError

# public name -> module that defines it (imported on first use)
_LAZY = {
    "DefectDataset": "augment.data.dataset",
    "make_demo_dataset": "augment.data.demo_data",
    "render_pill": "augment.data.demo_data",
    "save_contact_sheet": "augment.data.sheets",
    "Backbone": "augment.models.backbone",
    "DefectSynthesizer": "augment.synth.synthesizer",
    "load_backbone": "augment.models.pretrained",
    "LoraSettings": "augment.models.lora",
    "DefectAugment": "augment.loaders.transform",
    "SyntheticDefectDataset": "augment.loaders.wrappers",
    "MixedDefectDataset": "augment.loaders.wrappers",
    "seed_worker": "augment.loaders.wrappers",
    "export_dataset": "augment.loaders.export",
    "build_paste_bank": "augment.loaders.paste_bank",
    "paste_defect": "augment.masks.paste",
    "mask_components": "augment.masks.boxes",
    "estimate_foreground": "augment.masks.foreground",
    "RealMaskBank": "augment.masks.bank",
    "procedural_mask": "augment.masks.shapes",
    "QualityFilter": "augment.masks.quality",
    "strength_sweep": "augment.synth.sweep",
    "TrainOptions": "augment.synth.options",
    "open_source": "augment.loaders.sources",
    "set_threads": "augment.threads",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'augment' has no attribute {name!r}")


__all__ = [
    "GOOD",
    "DataError",
    "DatasetIndex",
    "FewShotSplit",
    "InvalidFilesError",
    "OutputError",
    "Sample",
    "SyntheticPair",
    "TooFewPairsError",
    "TrainingDivergedError",
    "index_folder",
    "iter_bank",
    "load_sample_arrays",
    "load_split",
    "make_split",
    "read_image",
    "read_manifest",
    "read_mask",
    "write_pair",
    *_LAZY,
]
