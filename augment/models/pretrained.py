"""Load a pretrained Stable Diffusion checkpoint (hub id or local diffusers folder) as a Backbone.

Supported, exactly as diffusers lays them out: SD 1.5 / 2.x text-to-image and inpainting, SDXL base
and inpainting (two text encoders, added time ids) and the SDXL refiner (second text encoder only).
Each component is loaded with its own ``from_pretrained`` from the classes ``model_index.json``
names, so only the files a component needs are read. When the weights are not there the error says
where it looked and whether the machine is offline, instead of a bare hub traceback.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from augment.devices import dtype_name
from augment.errors import BackboneNotFoundError
from augment.models.backbone import Backbone, BaseCheckpoint, Family, vae_dtype_for
from augment.models.fingerprint import model_fingerprint

__all__ = [
    "BackboneNotFoundError",
    "base_fingerprint",
    "is_refiner",
    "load_backbone",
    "load_refiner",
    "read_model_index",
]

COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")
WEIGHTED = ("unet", "vae", "text_encoder", "text_encoder_2")
LAYOUT = "model_index.json, unet/, vae/, text_encoder/ (+ text_encoder_2/ for SDXL), tokenizer/, scheduler/"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and "\\" not in name


def _not_found(name: str, reason: str) -> BackboneNotFoundError:
    from huggingface_hub import constants

    local = Path(name).expanduser().resolve()
    offline = (
        "HF_HUB_OFFLINE is set, so no download was tried"
        if _offline()
        else "this machine may be offline or the repository may be gated (log in with `hf auth login`)"
    )
    return BackboneNotFoundError(
        f"could not load the diffusers checkpoint {name!r}: {reason}. Looked in the local folder {local} "
        f"and in the Hugging Face cache {constants.HF_HUB_CACHE}; {offline}. Fix: pass a local folder in "
        f"the diffusers layout ({LAYOUT}), or download it where there is network "
        f"(`hf download {name}`) and copy the cache or the folder here."
    )


def _source(name: str) -> str:
    """A local folder path as a string, or the hub id when no such folder exists."""
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise BackboneNotFoundError(
            f"{name!r} is a file; expected a folder in the diffusers layout ({LAYOUT})"
        )
    if not _looks_like_hub_id(name):
        raise _not_found(name, "there is no such folder and it is not a hub id of the form 'org/name'")
    return name


def read_model_index(id_or_path: str, revision: str | None = None) -> dict[str, Any]:
    """The pipeline's ``model_index.json``: component name -> [library, class], plus pipeline options."""
    source = _source(id_or_path)
    if Path(source).is_dir():
        index_file = Path(source) / "model_index.json"
        if not index_file.is_file():
            present = sorted(p.name for p in Path(source).iterdir())[:12]
            raise BackboneNotFoundError(
                f"{index_file} does not exist, so {source} is not a diffusers pipeline folder "
                f"(it holds {present}); expected {LAYOUT}"
            )
    else:
        from huggingface_hub import hf_hub_download

        try:
            index_file = Path(hf_hub_download(source, "model_index.json", revision=revision))
        except Exception as exc:  # hub errors are many types; all mean "not available here"
            raise _not_found(id_or_path, f"model_index.json is not available ({type(exc).__name__})") from exc
    return json.loads(index_file.read_text())


def _component_class(name: str, spec: Any) -> type | None:
    if not isinstance(spec, list) or len(spec) != 2 or spec[0] is None:
        return None
    library, class_name = spec
    if library not in ("diffusers", "transformers"):
        raise BackboneNotFoundError(
            f"component {name!r} comes from {library!r}; only diffusers/transformers load"
        )
    return getattr(importlib.import_module(library), class_name)


def _check_tokenizer(tokenizer: Any, where: str) -> None:
    """Offline, a CLIPTokenizer can load as a near-empty vocabulary that maps every word to one id."""
    specials = len(set(getattr(tokenizer, "all_special_ids", [])))
    if len(tokenizer) <= specials + 1:
        raise BackboneNotFoundError(
            f"the tokenizer from {where} has only {len(tokenizer)} entries (its vocabulary files are "
            f"missing); check that tokenizer/ holds vocab.json + merges.txt or tokenizer.json"
        )


def _load_component(source: str, name: str, cls: type, options: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {"subfolder": name, "revision": options["revision"]}
    if name in WEIGHTED:
        kwargs["dtype"] = options["vae_dtype"] if name == "vae" else options["dtype"]
        if options["variant"] is not None and cls.__module__.startswith("diffusers"):
            kwargs["variant"] = options["variant"]
    try:
        component = cls.from_pretrained(source, **kwargs)  # type: ignore[attr-defined]
    except (OSError, ValueError) as exc:
        raise _not_found(source, f"its {name}/ could not be loaded ({type(exc).__name__}: {exc})") from exc
    if name.startswith("tokenizer"):
        _check_tokenizer(component, f"{source}/{name}")
    return component


def load_backbone(
    id_or_path: str,
    *,
    dtype: torch.dtype | None = None,
    vae_dtype: torch.dtype | None = None,
    variant: str | None = None,
    revision: str | None = None,
    device: torch.device | str | None = None,
) -> Backbone:
    """Load SD 1.5 / 2.x / SDXL (base, inpainting, refiner) components from a hub id or local folder.

    ``dtype`` applies to the UNet and text encoders; the VAE follows it except that SDXL's VAE stays
    float32 under float16 (it overflows to NaN there) unless ``vae_dtype`` says otherwise. The
    backbone's ``base`` records where it came from and the fingerprint of the weights as loaded, so
    a saved synthesizer can point to the base instead of copying it.
    """
    if not isinstance(id_or_path, (str, os.PathLike)):
        raise TypeError(f"id_or_path must be a hub id or a folder path, got {type(id_or_path).__name__}")
    name = os.fspath(id_or_path)
    index = read_model_index(name, revision)
    source = _source(name)
    classes = {part: _component_class(part, index.get(part)) for part in COMPONENTS}
    if classes["unet"] is None or classes["scheduler"] is None or classes["vae"] is None:
        raise BackboneNotFoundError(
            f"{name!r} is a {index.get('_class_name')} without unet/vae/scheduler; expected a Stable "
            f"Diffusion 1.x/2.x or SDXL pipeline"
        )
    family: Family = "sdxl" if classes["text_encoder_2"] is not None else "sd"
    if vae_dtype is None:
        vae_dtype = None if dtype is None else vae_dtype_for(family, dtype)
    options = {"dtype": dtype, "vae_dtype": vae_dtype, "variant": variant, "revision": revision}
    parts = {part: _load_component(source, part, cls, options) for part, cls in classes.items() if cls}
    backbone = Backbone(
        unet=parts["unet"],
        scheduler=parts["scheduler"],
        text_encoder=parts.get("text_encoder"),
        tokenizer=parts.get("tokenizer"),
        vae=parts["vae"],
        text_encoder_2=parts.get("text_encoder_2"),
        tokenizer_2=parts.get("tokenizer_2"),
        family=family,
        source=name,
    )
    for module in (backbone.unet, backbone.vae, backbone.text_encoder, backbone.text_encoder_2):
        if module is not None:
            module.eval()
    if device is not None:
        backbone.to(device)
    backbone.base = BaseCheckpoint(
        source=name,
        fingerprint=base_fingerprint(backbone),
        dtype=dtype_name(backbone.dtype),
        revision=revision,
        variant=variant,
    )
    return backbone


def base_fingerprint(backbone: Backbone) -> str:
    """Fingerprint of the weights of every model of the backbone (before any adapter or token)."""
    return model_fingerprint((backbone.unet, backbone.vae, backbone.text_encoder, backbone.text_encoder_2))


def is_refiner(backbone: Backbone) -> bool:
    """The SDXL refiner: second text encoder only, aesthetic-score time ids."""
    return backbone.family == "sdxl" and backbone.text_encoder is None and backbone.text_encoder_2 is not None


def load_refiner(id_or_path: str, **kwargs: Any) -> Backbone:
    """Load an SDXL refiner (optional second stage) and check that it is one."""
    backbone = load_backbone(id_or_path, **kwargs)
    if not is_refiner(backbone):
        raise ValueError(
            f"{id_or_path!r} is not an SDXL refiner (it has {'two text encoders' if backbone.family == 'sdxl' else 'one CLIP text encoder'}); "
            f"pass e.g. stabilityai/stable-diffusion-xl-refiner-1.0"
        )
    return backbone
