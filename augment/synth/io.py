"""Saving and loading a synthesizer folder: config.json, one folder per component, the fitted shots.

The layout follows diffusers pipelines: each component (``unet/``, ``text_encoder/``,
``tokenizer/``, ``scheduler/`` and, when present, ``vae/``, ``text_encoder_2/``, ``tokenizer_2/``)
is written with its own ``save_pretrained`` (weights as safetensors) and named in config.json by
library and class, so loading needs no knowledge of how the backbone was built. A LoRA-adapted
pretrained backbone saves its base weights there and its adapters under ``lora/``
(``augment.models.lora``), since an adapted model's own ``save_pretrained`` does not reload.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from augment.errors import DataError
from augment.files import CONFIG, LORA, SHOTS
from augment.models.backbone import Backbone
from augment.models.lora import has_lora, load_lora, save_base_model, save_lora

COMPONENTS = ("unet", "text_encoder", "tokenizer", "scheduler", "vae", "text_encoder_2", "tokenizer_2")
Shots = dict[str, list[tuple[np.ndarray, np.ndarray]]]


def _load_component(folder: Path, spec: Sequence[str]) -> Any:
    library, cls_name = spec
    return getattr(importlib.import_module(library), cls_name).from_pretrained(folder)


def save_folder(
    path: str | Path, class_name: str, config: dict[str, Any], backbone: Backbone, shots: Shots
) -> Path:
    """Write every component, the shots and (last, atomically) config.json."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    specs = {}
    for name in COMPONENTS:
        component = getattr(backbone, name)
        if component is not None:
            if has_lora(component):
                save_base_model(component, path / name)
            else:
                component.save_pretrained(path / name)
            specs[name] = [type(component).__module__.split(".")[0], type(component).__name__]
    tensors = {
        f"{d}/{i}/{kind}": torch.from_numpy(np.ascontiguousarray(arr))
        for d, items in shots.items()
        for i, pair in enumerate(items)
        for kind, arr in zip(("image", "mask"), pair, strict=True)
    }
    save_file(tensors or {"empty": torch.zeros(1)}, path / SHOTS)
    if has_lora(backbone.unet):
        save_lora(backbone, path / LORA)
    tmp = path / f".{CONFIG}.tmp"
    tmp.write_text(json.dumps({"_class_name": class_name, **config, "components": specs}, indent=2))
    tmp.replace(path / CONFIG)
    return path


def read_config(path: Path, class_name: str) -> dict[str, Any]:
    """config.json of a saved synthesizer, or a DataError saying why the folder is not one."""
    try:
        config = json.loads((path / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(
            f"{path} is not a saved synthesizer ({CONFIG} unreadable: {exc}); create one "
            "with 'defect-synth fit' or DefectSynthesizer.save_pretrained."
        ) from exc
    if not isinstance(config, dict) or config.get("_class_name") != class_name or "components" not in config:
        found = config.get("_class_name") if isinstance(config, dict) else None
        raise DataError(
            f"{path} is not a saved synthesizer: its {CONFIG} has _class_name {found!r}, expected {class_name!r}."
        )
    return config


def load_folder(path: str | Path, class_name: str) -> tuple[dict[str, Any], Backbone, Shots]:
    """(config, backbone, shots) of a folder written by ``save_folder``."""
    path = Path(path)
    config = read_config(path, class_name)
    parts = {name: _load_component(path / name, spec) for name, spec in config["components"].items()}
    backbone = Backbone(**parts, family=config["family"], source=config["source"])
    if (path / LORA).is_dir():
        load_lora(backbone, path / LORA)
    return config, backbone, read_shots(path / SHOTS)


def read_shots(path: Path) -> Shots:
    """The fitted shots per defect type, as saved by ``save_folder``."""
    tensors = load_file(path) if path.is_file() else {}
    out: Shots = {}
    items = sorted({(k.split("/")[0], int(k.split("/")[1])) for k in tensors if k.count("/") == 2})
    for defect, i in items:
        out.setdefault(defect, []).append(
            (tensors[f"{defect}/{i}/image"].numpy(), tensors[f"{defect}/{i}/mask"].numpy())
        )
    return out
