"""Saving and loading a synthesizer folder: config.json, fitted.json, the models, shots.

The embedded default is trained from scratch, so its folder holds every component, laid out as
diffusers pipelines are: each (``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``) is
written with its own ``save_pretrained`` (weights as safetensors) and named in config.json by
library and class, so loading needs no knowledge of how the backbone was built. A pretrained
backbone (loaded with ``load_backbone``) is saved as what fitting changed, over a reference to its
base checkpoint (``augment.synth.adapters``: ``lora/``, ``tokens/``, the base's id and
fingerprint). A pretrained backbone built in memory has no base to point to and is saved whole,
its adapters under ``lora/``. config.json holds the configuration (``SynthConfig``) and how to load
the models; fitted.json what fitting learnt (``FittedState``) and the weights' fingerprint. Folders
saved before fitted.json existed kept the fitted state in config.json and still load.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from augment.data.outputs import writing
from augment.errors import DataError
from augment.files import (
    CHECKPOINTS,
    CLASS_EMBEDDINGS,
    CONFIG,
    FITTED,
    LORA,
    REFINER,
    SHOTS,
    TOKENS,
    VALIDATION,
)
from augment.models.backbone import Backbone
from augment.models.lora import has_lora, load_lora, save_base_model, save_lora
from augment.synth.adapters import adapter_files, is_adapted, load_adapted, save_adapted
from augment.synth.config import FittedState, SynthConfig

__all__ = [
    "check_weights",
    "is_fit_output",
    "load_folder",
    "read_config",
    "read_shots",
    "save_folder",
    "saved_fingerprint",
]

COMPONENTS = ("unet", "text_encoder", "tokenizer", "scheduler", "vae", "text_encoder_2", "tokenizer_2")
Shots = dict[str, list[tuple[np.ndarray, np.ndarray]]]


REFIT = "refit it with 'defect-synth fit' (DefectSynthesizer.save_pretrained), or copy the whole folder again"


def _incomplete(path: Path, what: str) -> DataError:
    return DataError(f"model folder {path} is incomplete or damaged: {what}; {REFIT}.")


def check_weights(path: Path, files: Sequence[Path]) -> None:
    """Every safetensors file must open (a truncated one fails its header check): DataError naming it."""
    for file in files:
        try:
            with safe_open(str(file), "pt"):
                pass
        except Exception as exc:  # safetensors raises its own error type for every damage
            raise _incomplete(path, f"{file.relative_to(path)} cannot be read ({exc})") from exc


def _load_component(path: Path, name: str, spec: Sequence[str]) -> Any:
    """One component from its folder, or a DataError naming the missing or damaged file."""
    folder = path / name
    if not folder.is_dir():
        raise _incomplete(path, f"{name}/ is missing ({CONFIG} lists it)")
    check_weights(path, sorted(folder.glob("*.safetensors")))
    library, cls_name = spec
    try:
        return getattr(importlib.import_module(library), cls_name).from_pretrained(folder)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise _incomplete(path, f"{name}/ could not be loaded ({type(exc).__name__}: {exc})") from exc


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to a temporary name, then rename (never a torn file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _save_shots(path: Path, shots: Shots) -> None:
    tensors = {
        f"{d}/{i}/{kind}": torch.from_numpy(np.ascontiguousarray(arr))
        for d, items in shots.items()
        for i, pair in enumerate(items)
        for kind, arr in zip(("image", "mask"), pair, strict=True)
    }
    save_file(tensors or {"empty": torch.zeros(1)}, path)


def _save_components(path: Path, backbone: Backbone) -> dict[str, Any]:
    """Every component in its own folder (adapters apart, under ``lora/``); config.json's entries."""
    specs = {}
    for name in COMPONENTS:
        component = getattr(backbone, name)
        if component is not None:
            if has_lora(component):
                save_base_model(component, path / name)
            else:
                component.save_pretrained(path / name)
            specs[name] = [type(component).__module__.split(".")[0], type(component).__name__]
    if has_lora(backbone.unet):
        save_lora(backbone, path / LORA)
    return {"components": specs}


def save_folder(
    path: str | Path,
    class_name: str,
    config: SynthConfig,
    fitted: FittedState,
    fingerprint: str,
    backbone: Backbone,
    shots: Shots,
    refiner: Backbone | None = None,
) -> Path:
    """Write the models (a fitted ``refiner``'s adapters under ``refiner/``), the shots, fitted.json
    and (last, atomically) config.json."""
    path = Path(path)
    with writing(path, "A fit's last checkpoint is kept: free space and fit again with resume=True to save."):
        path.mkdir(parents=True, exist_ok=True)
        models = save_adapted(backbone, path) if is_adapted(backbone) else _save_components(path, backbone)
        _save_shots(path / SHOTS, shots)
        _write_json(path / FITTED, fitted.to_dict() | {"fingerprint": fingerprint})
        backbone_spec = {"family": backbone.family, "source": backbone.source, **models}
        if backbone.class_tokens:
            backbone_spec["class_tokens"] = sorted(
                backbone.class_tokens, key=backbone.class_tokens.__getitem__
            )
        if refiner is not None:
            backbone_spec[REFINER] = save_adapted(refiner, path / REFINER)
        _write_json(path / CONFIG, {"_class_name": class_name, **config.to_dict(), **backbone_spec})
    return path


def is_fit_output(path: Path) -> bool:
    """Whether every entry of ``path`` is one a fit writes (a saved synthesizer, its checkpoints and
    validation sheets): the folders ``defect-synth fit --out`` may write into again."""
    names = {
        *COMPONENTS,
        CONFIG,
        FITTED,
        SHOTS,
        LORA,
        TOKENS,
        CLASS_EMBEDDINGS,
        REFINER,
        CHECKPOINTS,
        VALIDATION,
    }
    return all(p.name in names or p.name.endswith(".tmp") for p in path.iterdir())


def read_config(path: Path, class_name: str) -> dict[str, Any]:
    """config.json of a saved synthesizer, or a DataError saying why the folder is not one."""
    try:
        config = json.loads((path / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(
            f"{path} is not a saved synthesizer ({CONFIG} unreadable: {exc}); create one "
            "with 'defect-synth fit' or DefectSynthesizer.save_pretrained."
        ) from exc
    models = "components" in config or "base" in config if isinstance(config, dict) else False
    if not isinstance(config, dict) or config.get("_class_name") != class_name or not models:
        found = config.get("_class_name") if isinstance(config, dict) else None
        raise DataError(
            f"{path} is not a saved synthesizer: its {CONFIG} has _class_name {found!r}, expected {class_name!r}."
        )
    return config


def saved_fingerprint(path: str | Path) -> str | None:
    """The weights' fingerprint recorded when the folder was saved (read without loading weights)."""
    path = Path(path)
    for name in (FITTED, CONFIG):  # folders saved before fitted.json kept it in config.json
        if (path / name).is_file():
            value = json.loads((path / name).read_text()).get("fingerprint")
            if value:
                return str(value)
    return None


def read_fitted(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """fitted.json of a saved synthesizer; folders saved before it existed kept it in config.json."""
    fitted = path / FITTED
    if not fitted.is_file():
        return config
    try:
        return dict(json.loads(fitted.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise _incomplete(path, f"{FITTED} cannot be read ({exc})") from exc


def _load_models(path: Path, config: dict[str, Any]) -> Backbone:
    """The backbone of a saved folder: its base checkpoint and adapters, or its own components."""
    if "base" in config:
        check_weights(path, adapter_files(path))
        return load_adapted(path, config)
    parts = {name: _load_component(path, name, spec) for name, spec in config["components"].items()}
    classes = {token: k + 1 for k, token in enumerate(config.get("class_tokens", []))}
    backbone = Backbone(**parts, family=config["family"], source=config["source"], class_tokens=classes)
    if (path / LORA).is_dir():
        load_lora(backbone, path / LORA)
    return backbone


class Saved(NamedTuple):
    """What a folder written by ``save_folder`` holds."""

    config: SynthConfig
    fitted: FittedState
    backbone: Backbone
    shots: Shots
    refiner: Backbone | None


def load_folder(path: str | Path, class_name: str) -> Saved:
    """The configuration, fitted state, backbone, shots and fitted refiner of a saved folder."""
    path = Path(path)
    config = read_config(path, class_name)
    backbone = _load_models(path, config)
    refiner = None
    if REFINER in config:
        check_weights(path, adapter_files(path / REFINER))
        refiner = load_adapted(path / REFINER, config[REFINER])
    fitted = FittedState.from_dict(read_fitted(path, config))
    if (path / SHOTS).is_file():
        check_weights(path, [path / SHOTS])
    return Saved(SynthConfig.from_dict(config), fitted, backbone, read_shots(path / SHOTS), refiner)


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
