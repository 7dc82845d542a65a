"""Placeholder tokens (``<pill>``, ``<scratch>``): learned text embeddings, textual-inversion style.

Each product and defect type gets its own token, added to the tokenizer as one unsplittable
token, with one new row in the text encoder's embedding matrix. ``len(tokenizer)`` always equals
the number of embedding rows (stock diffusers' ``load_textual_inversion`` relies on it), and only
the new rows are trained: a gradient hook zeroes every other row's gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def placeholder(name: str) -> str:
    """The prompt token for a product or defect name: ``scratch`` -> ``<scratch>``."""
    if not name or any(c.isspace() for c in name) or name.startswith("<"):
        raise ValueError(f"a token name must be a non-empty word without spaces or '<', got {name!r}.")
    return f"<{name}>"


def prompt_for(product: str, defect: str | None) -> str:
    """The training and generation prompt: 'a photo of a <pill> with a <scratch>'."""
    text = f"a photo of a {placeholder(product)}"
    return f"{text} with a {placeholder(defect)}" if defect else text


def add_placeholder_tokens(
    tokenizer: Any, text_encoder: Any, names: Sequence[str], init_word: str = "a"
) -> list[int]:
    """Add ``<name>`` for each name not yet known; returns the token ids of all ``names``.

    New rows start from the embedding of ``init_word`` (its first token), so a fresh token
    behaves like an existing word until it is trained; the caller's random stream is untouched.
    """
    tokens = [placeholder(n) for n in names]
    missing = [t for t in tokens if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing)
        init_id = tokenizer(init_word, add_special_tokens=False).input_ids[0]
        weight = text_encoder.get_input_embeddings().weight
        old = weight.shape[0]
        devices = [weight.device.index or 0] if weight.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # resizing draws the new rows, overwritten below
            text_encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():
            weight = text_encoder.get_input_embeddings().weight
            weight[old:] = weight[init_id].clone()
    check_embedding_rows(tokenizer, text_encoder)
    return [int(tokenizer.convert_tokens_to_ids(t)) for t in tokens]


def check_embedding_rows(tokenizer: Any, text_encoder: Any) -> None:
    """Raise if the tokenizer and the embedding matrix disagree on the vocabulary size."""
    rows = text_encoder.get_input_embeddings().weight.shape[0]
    if rows != len(tokenizer):
        raise ValueError(
            f"text encoder has {rows} embedding rows but the tokenizer has {len(tokenizer)} "
            "tokens; add tokens with add_placeholder_tokens so both stay equal."
        )


def train_only_rows(text_encoder: Any, token_ids: Sequence[int]) -> torch.nn.Parameter:
    """Freeze the text encoder except the embedding rows of ``token_ids``; returns that parameter.

    The other rows keep receiving a zero gradient (hook), so use the parameter with
    ``weight_decay=0`` in Adam-type optimisers and those rows never move.
    """
    text_encoder.requires_grad_(False)
    weight = text_encoder.get_input_embeddings().weight
    weight.requires_grad_(True)
    keep = torch.zeros(weight.shape[0], 1, dtype=weight.dtype, device=weight.device)
    keep[list(token_ids)] = 1.0
    old = getattr(weight, "_token_rows_hook", None)
    if old is not None:
        old.remove()
    weight._token_rows_hook = weight.register_hook(lambda grad: grad * keep)
    return weight


def token_rows(text_encoder: Any, token_ids: Sequence[int]) -> torch.Tensor:
    """A copy of the embedding rows of ``token_ids`` (what textual inversion saves)."""
    return text_encoder.get_input_embeddings().weight[list(token_ids)].detach().clone()
