"""Class-conditioned UNets: one learned class embedding per defect type, fed as ``class_labels``.

The SD 1.5 setup for cable defects conditions the UNet on the defect type twice: through the
prompt's defect token and through a class embedding added to the timestep embedding (diffusers'
``num_class_embeds``). Class 0 is "no defect" (defect-free windows, the product-only and the null
prompt); defect type k is class k. The label of a prompt is read from the prompt itself (the first
class token in it), so training, guidance branches and text-to-image need no extra argument.
New rows start at zero, so adding the embedding leaves the UNet's output exactly as it was until
it trains. Stock diffusers pipelines pass no ``class_labels``: a class-conditioned model runs in
this library (or with ``unet(..., class_labels=...)``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from augment.errors import DataError
from augment.models.backbone import Backbone

__all__ = ["add_class_embeddings", "class_labels", "load_class_embeddings", "save_class_embeddings"]

WEIGHT = "weight"


def add_class_embeddings(backbone: Backbone, tokens: Sequence[str]) -> torch.nn.Parameter:
    """Give the UNet a class embedding with a row per token (plus class 0); returns its weight.

    Tokens already known keep their class and row; new ones get the next classes, zero rows.
    """
    unet = backbone.unet
    if unet.config.get("class_embed_type") is not None or unet.config.get("class_embeddings_concat"):
        raise ValueError(
            f"the UNet already has a class embedding of type {unet.config.class_embed_type!r}; class "
            "embeddings per defect type need a UNet without one."
        )
    known = dict(backbone.class_tokens)
    for token in tokens:
        known.setdefault(token, len(known) + 1)
    old = unet.class_embedding
    rows = len(known) + 1
    if old is None or old.num_embeddings < rows:
        time = unet.time_embedding.linear_2.weight  # (time embedding dim, ...): what a class adds to
        new = torch.nn.Embedding(rows, time.shape[0], device=time.device, dtype=time.dtype)
        with torch.no_grad():
            new.weight.zero_()
            if old is not None:
                new.weight[: old.num_embeddings] = old.weight
        unet.class_embedding = new
        unet.register_to_config(num_class_embeds=rows)
    backbone.class_tokens = known
    return unet.class_embedding.weight


def class_labels(backbone: Backbone, prompts: Sequence[str]) -> torch.Tensor | None:
    """Each prompt's class: that of the first class token it holds, 0 for none; None without classes."""
    if not backbone.class_tokens:
        return None
    labels = []
    for prompt in prompts:
        found = [(prompt.find(t), k) for t, k in backbone.class_tokens.items() if t in prompt]
        labels.append(min(found)[1] if found else 0)
    return torch.tensor(labels, dtype=torch.long, device=backbone.device)


def save_class_embeddings(backbone: Backbone, path: Path) -> None:
    """The class embedding's rows, with the tokens of classes 1..N in the file's metadata."""
    tokens = sorted(backbone.class_tokens, key=backbone.class_tokens.__getitem__)
    weight = backbone.unet.class_embedding.weight.detach().float().cpu().contiguous()
    save_file({WEIGHT: weight}, str(path), metadata={"tokens": json.dumps(tokens)})


def load_class_embeddings(backbone: Backbone, path: Path) -> None:
    """Put the rows ``save_class_embeddings`` wrote on the backbone's UNet (added if need be)."""
    try:
        with safe_open(str(path), "pt") as handle:
            tokens = json.loads((handle.metadata() or {})["tokens"])
            weight = handle.get_tensor(WEIGHT)
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            f"{path} is not a class-embedding file written by save_class_embeddings ({exc})."
        ) from exc
    target = add_class_embeddings(backbone, tokens)
    if target.shape != weight.shape:
        raise DataError(
            f"{path} holds {tuple(weight.shape)} class rows; the UNet needs {tuple(target.shape)}."
        )
    with torch.no_grad():
        target.copy_(weight)
