"""The public API surface: every name in ``__all__`` resolves, and no public name is ever dropped.

The pinned lists are the names users import today; adding a name is fine, dropping or renaming one
fails here (keep the old name resolving, or say so in the changelog and update the list on purpose).
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "augment": [
        "GOOD", "Backbone", "DataError", "DatasetIndex", "DefectAugment", "DefectDataset",
        "DefectSynthesizer", "FewShotSplit", "LoraSettings", "MixedDefectDataset", "QualityFilter",
        "RealMaskBank", "Sample", "SyntheticDefectDataset", "SyntheticPair", "TooFewPairsError",
        "TrainOptions", "TrainingDivergedError", "build_paste_bank", "estimate_foreground",
        "export_dataset", "index_folder", "iter_bank", "load_backbone", "load_sample_arrays",
        "load_split", "make_demo_dataset", "make_split", "mask_components", "open_source", "paste_defect",
        "procedural_mask", "read_image", "read_manifest", "read_mask", "render_pill",
        "save_contact_sheet", "seed_worker", "strength_sweep", "write_pair",
        "InvalidFilesError", "OutputError", "set_threads",
    ],
    "downstream": [
        "BenchmarkConfig", "SegmentationMetrics", "TrainConfig", "Trainer", "build_model",
        "run_benchmark", "write_report",
    ],
    "eval": [
        "METRICS", "EvalConfig", "FeatureCache", "FeatureSpec", "ImageSet", "InceptionFeatures",
        "cache_key", "cached_features", "changed_region_iou", "compare_files", "evaluate",
        "extract_features", "fid", "ic_lpips", "image_set_from_samples", "inception_score", "kid",
        "load_image_set", "load_inception", "load_lpips", "mask_area_stats", "mask_iou",
        "precision_recall", "write_report",
    ],
}  # fmt: skip


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", [])
    assert names, f"{package} declares no public API"
    for name in names:
        assert getattr(module, name) is not None


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_no_public_name_is_dropped(package: str) -> None:
    module = importlib.import_module(package)
    missing = sorted(set(PUBLIC[package]) - set(module.__all__))
    assert not missing, f"{package}.__all__ lost {missing}"
    for name in PUBLIC[package]:
        assert getattr(module, name) is not None


def test_the_synthesizer_fit_settings_are_not_the_detector_training_settings() -> None:
    from augment.synth.options import FitConfig
    from downstream import TrainConfig

    assert FitConfig is not TrainConfig
    assert not hasattr(importlib.import_module("augment"), "TrainConfig")
