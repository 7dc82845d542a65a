"""A fine-tuned pretrained backbone saved as what fitting changed, plus where its base checkpoint is.

A pretrained checkpoint is gigabytes that fitting never changes: only LoRA adapters and the
learned tokens' embedding rows train. So a saved synthesizer on a pretrained backbone holds
``lora/`` (``pytorch_lora_weights.safetensors``, for ``pipe.load_lora_weights``), ``tokens/`` (one
``<token>.safetensors`` per learned token, for ``pipe.load_textual_inversion``), the class
embeddings when it has them (``augment.models.classes``) and, in its
``config.json``, the base checkpoint's hub id or folder, revision, variant, dtype and the
fingerprint of its weights (``augment.models.backbone.BaseCheckpoint``). Loading reads the base
from there and refuses a base whose weights are not the ones the model was fitted on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augment.devices import DTYPES
from augment.errors import BackboneNotFoundError, DataError
from augment.files import CLASS_EMBEDDINGS, LORA, TOKENS
from augment.models.backbone import Backbone, BaseCheckpoint
from augment.models.classes import load_class_embeddings, save_class_embeddings
from augment.models.lora import (
    has_lora,
    learned_tokens,
    load_lora,
    load_token_rows,
    save_lora,
    save_textual_inversion,
)
from augment.models.pretrained import load_backbone

__all__ = ["adapter_files", "is_adapted", "load_adapted", "save_adapted"]


def is_adapted(backbone: Backbone) -> bool:
    """Whether the backbone is saved as adapters over a base checkpoint (it was loaded from one)."""
    return backbone.family != "embedded" and backbone.base is not None


def save_adapted(backbone: Backbone, folder: Path) -> dict[str, Any]:
    """Write ``lora/`` and ``tokens/`` under ``folder``; returns what config.json records of them."""
    if backbone.base is None:
        raise ValueError(
            f"the {backbone.family} backbone {backbone.source!r} was not loaded with load_backbone."
        )
    tokens = learned_tokens(backbone)
    if has_lora(backbone.unet):
        save_lora(backbone, folder / LORA)
    if tokens:
        save_textual_inversion(backbone, tokens, folder / TOKENS)
    if backbone.class_tokens:
        save_class_embeddings(backbone, folder / CLASS_EMBEDDINGS)
    return {"base": backbone.base.to_dict(), "tokens": tokens}


def adapter_files(folder: Path) -> list[Path]:
    """The safetensors files ``save_adapted`` wrote under ``folder``."""
    classes = [folder / CLASS_EMBEDDINGS] if (folder / CLASS_EMBEDDINGS).is_file() else []
    return (
        sorted((folder / LORA).glob("*.safetensors"))
        + sorted((folder / TOKENS).glob("*.safetensors"))
        + classes
    )


def _load_base(base: BaseCheckpoint, folder: Path) -> Backbone:
    """The base checkpoint as it was loaded for fitting, or an error saying why it cannot be."""
    try:
        backbone = load_backbone(
            base.source, dtype=DTYPES[base.dtype], revision=base.revision, variant=base.variant
        )
    except BackboneNotFoundError as exc:
        raise BackboneNotFoundError(
            f"the model in {folder} holds adapters for the base checkpoint {base.source!r}, which cannot "
            f"be loaded here: {exc}"
        ) from exc
    loaded = backbone.base.fingerprint if backbone.base is not None else None
    if loaded != base.fingerprint:
        raise DataError(
            f"the base checkpoint {base.source!r} has weights with fingerprint {loaded}, but the model "
            f"in {folder} was fitted on weights with fingerprint {base.fingerprint} (revision "
            f"{base.revision}, variant {base.variant}, {base.dtype}): the checkpoint there has changed. "
            "Put the checkpoint the model was fitted on there, or fit again on this one."
        )
    return backbone


def load_adapted(folder: Path, config: dict[str, Any]) -> Backbone:
    """The backbone ``save_adapted`` described: its base checkpoint, tokens and adapters."""
    backbone = _load_base(BaseCheckpoint(**config["base"]), folder)
    if config.get("tokens"):
        load_token_rows(backbone, folder / TOKENS, config["tokens"])
    if (folder / LORA).is_dir():
        load_lora(backbone, folder / LORA)
    if (folder / CLASS_EMBEDDINGS).is_file():
        load_class_embeddings(backbone, folder / CLASS_EMBEDDINGS)
    return backbone
