"""LoRA adapters (peft) and textual-inversion tokens, saved in the formats stock diffusers loads.

Fine-tuning a pretrained backbone trains low-rank adapters on the UNet's attention projections
(and optionally the text encoders) plus new token embeddings. What is saved must load into a plain
pipeline with ``pipe.load_lora_weights(folder)`` and ``pipe.load_textual_inversion(...)`` and give
the same images, so the files follow diffusers' own layout: ``pytorch_lora_weights.safetensors``
with the peft adapter metadata (without it, ``alpha != rank`` reloads to different outputs), and
one ``<token>.safetensors`` per token (``{token: vector}``; SDXL: ``{"clip_l": ..., "clip_g": ...}``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from safetensors.torch import load_file, save_file

from augment.errors import DataError
from augment.models.backbone import Backbone
from augment.models.tokens import add_placeholder_tokens

__all__ = [
    "LORA_WEIGHT_NAME",
    "LoraSettings",
    "add_lora",
    "check_text_encoder_lora_support",
    "has_lora",
    "learned_tokens",
    "load_lora",
    "load_textual_inversion_into",
    "load_token_rows",
    "lora_parameters",
    "save_base_model",
    "save_lora",
    "save_textual_inversion",
    "textual_inversion_files",
]

LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TEXT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters; the defaults are the seed recipe (rank 8, alpha 16, dropout 0.1)."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    target_modules: tuple[str, ...] = UNET_TARGETS
    text_encoder: bool = False
    text_target_modules: tuple[str, ...] = field(default=TEXT_TARGETS)

    def __post_init__(self) -> None:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"LoRA rank must be an integer >= 1, got {self.rank!r}")
        if not math.isfinite(self.alpha) or self.alpha <= 0:
            raise ValueError(f"LoRA alpha must be a positive number, got {self.alpha!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}")
        if not self.target_modules or isinstance(self.target_modules, str):
            raise ValueError(
                f"target_modules must be a non-empty list of module names such as {list(UNET_TARGETS)}, "
                f"got {self.target_modules!r}"
            )
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        object.__setattr__(self, "text_target_modules", tuple(self.text_target_modules))
        if self.text_encoder:
            check_text_encoder_lora_support()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def peft_config(self, targets: Sequence[str]) -> Any:
        from peft import LoraConfig

        # peft annotates lora_alpha as int but only ever divides it by r, so float alphas are exact.
        return LoraConfig(
            r=self.rank,
            lora_alpha=cast(int, self.alpha),
            lora_dropout=self.dropout,
            init_lora_weights="gaussian",
            target_modules=list(targets),
        )


def check_text_encoder_lora_support() -> None:
    """Raise before any work when the installed transformers refuses LoRA on its text encoders
    with the installed peft (transformers 5.24 asks for peft >= 0.22, which PyPI did not serve in
    November 2026); the message names both versions and the fixes."""
    from importlib.metadata import version

    from packaging.version import Version

    try:
        from transformers.integrations import peft as transformers_peft
    except ImportError:  # transformers without a peft integration: nothing to check
        return
    needed = getattr(transformers_peft, "MIN_PEFT_VERSION", None)
    installed = version("peft")
    if needed is not None and Version(installed) < Version(needed):
        raise ValueError(
            f"LoRA on the text encoders needs peft >= {needed} with the installed transformers "
            f"{version('transformers')}, but peft {installed} is installed. Fix: pip install "
            f"'peft>={needed}', or install the tested set (pip install -c requirements-lock.txt -e .), "
            "or train without text-encoder LoRA (text_encoder=False)."
        )


def _text_encoders(backbone: Backbone) -> dict[str, Any]:
    """The text encoders present, by the name diffusers' LoRA files use for them."""
    encoders = {"text_encoder": backbone.text_encoder, "text_encoder_2": backbone.text_encoder_2}
    return {name: module for name, module in encoders.items() if module is not None}


def add_lora(backbone: Backbone, settings: LoraSettings | None = None) -> list[torch.nn.Parameter]:
    """Add a LoRA adapter to the UNet (and the text encoders if asked); returns the trainable parameters.

    The base weights are frozen; only the LoRA matrices require gradients.
    """
    settings = settings or LoraSettings()
    modules = {"unet": backbone.unet}
    if settings.text_encoder:
        modules.update(_text_encoders(backbone))
    for name, module in modules.items():
        if getattr(module, "peft_config", None):
            raise ValueError(f"the {name} already has a LoRA adapter; add_lora once per model")
        targets = settings.target_modules if name == "unet" else settings.text_target_modules
        module.requires_grad_(False)
        training = module.training
        try:
            module.add_adapter(settings.peft_config(targets))
        except ValueError as exc:
            raise ValueError(
                f"could not add LoRA to the {name} with target modules {list(targets)}: {exc}"
            ) from exc
        module.train(training)  # peft creates the LoRA layers in training mode (dropout on)
    return [p for module in modules.values() for p in lora_parameters(module)]


def lora_parameters(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The LoRA matrices of ``module`` (made trainable)."""
    params = [p for name, p in module.named_parameters() if "lora_" in name]
    for param in params:
        param.requires_grad_(True)
    return params


def _lora_layers(module: Any) -> dict[str, torch.Tensor]:
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    return convert_state_dict_to_diffusers(get_peft_model_state_dict(module))


def _inference_metadata(module: Any) -> dict[str, Any]:
    """The adapter's peft config with dropout 0: ``load_lora_weights`` injects LoRA layers in training
    mode (diffusers 0.42 + peft 0.21), so a saved dropout would stay active at inference in a stock
    pipeline and make its images random. Dropout is a training setting; rank and alpha are kept."""
    metadata = module.peft_config["default"].to_dict()
    metadata["lora_dropout"] = 0.0
    return metadata


def save_lora(backbone: Backbone, folder: str | Path) -> Path:
    """Write the adapters as ``pytorch_lora_weights.safetensors`` for ``pipe.load_lora_weights(folder)``."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    if not getattr(backbone.unet, "peft_config", None):
        raise ValueError("the UNet has no LoRA adapter to save; call add_lora(backbone) and train first")
    kwargs: dict[str, Any] = {
        "unet_lora_layers": _lora_layers(backbone.unet),
        "unet_lora_adapter_metadata": _inference_metadata(backbone.unet),
    }
    for name, module in _text_encoders(backbone).items():
        if getattr(module, "peft_config", None):
            kwargs[f"{name}_lora_layers"] = _lora_layers(module)
            kwargs[f"{name}_lora_adapter_metadata"] = _inference_metadata(module)
    pipeline = StableDiffusionXLPipeline if backbone.family == "sdxl" else StableDiffusionPipeline
    folder = Path(folder)
    pipeline.save_lora_weights(folder, weight_name=LORA_WEIGHT_NAME, **kwargs)
    return folder / LORA_WEIGHT_NAME


def has_lora(module: Any) -> bool:
    """Whether ``module`` carries a peft adapter."""
    return bool(getattr(module, "peft_config", None))


def save_base_model(module: Any, folder: str | Path) -> None:
    """Save a LoRA-adapted model WITHOUT its adapters, in its library's own layout.

    ``save_pretrained`` of an adapted model writes ``base_layer``/``lora_`` keys that a plain
    ``from_pretrained`` cannot read back (the weights silently come back random): the adapters go
    to ``save_lora`` instead, this writes only the base weights under their plain names.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        key.replace(".base_layer.", "."): value.detach().contiguous()
        for key, value in module.state_dict().items()
        if "lora_" not in key
    }
    if hasattr(module, "save_config"):  # diffusers model
        module.save_config(folder)
        save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
    else:  # transformers model
        module.config.save_pretrained(folder)
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})


def load_lora(backbone: Backbone, folder: str | Path) -> None:
    """Put the adapters written by ``save_lora`` back on the backbone's models (adapter "default")."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    pipeline = StableDiffusionXLPipeline if backbone.family == "sdxl" else StableDiffusionPipeline
    folder = Path(folder)
    if not (folder / LORA_WEIGHT_NAME).is_file():
        raise FileNotFoundError(
            f"no {LORA_WEIGHT_NAME} in {folder}; write it with save_lora(backbone, folder)"
        )
    state, alphas, metadata = pipeline.lora_state_dict(
        str(folder), weight_name=LORA_WEIGHT_NAME, return_lora_metadata=True
    )
    pipeline.load_lora_into_unet(state, alphas, backbone.unet, adapter_name="default", metadata=metadata)
    for name, module in _text_encoders(backbone).items():
        if any(key.startswith(f"{name}.") for key in state):
            pipeline.load_lora_into_text_encoder(
                state, alphas, module, prefix=name, adapter_name="default", metadata=metadata
            )


def _embedding_rows(text_encoder: Any, tokenizer: Any, tokens: Sequence[str]) -> torch.Tensor:
    ids = tokenizer.convert_tokens_to_ids(list(tokens))
    unknown = [t for t, i in zip(tokens, ids, strict=True) if i is None or i == tokenizer.unk_token_id]
    if unknown:
        raise ValueError(
            f"tokens {unknown} are not in the tokenizer; add them before saving their embeddings"
        )
    return text_encoder.get_input_embeddings().weight[ids].detach().float().cpu().clone()


def save_textual_inversion(backbone: Backbone, tokens: Sequence[str], folder: str | Path) -> list[Path]:
    """Write one ``<token>.safetensors`` per token: ``{token: vector}``, or for SDXL ``clip_l``/``clip_g``."""
    if not tokens:
        raise ValueError("no tokens given; pass the placeholder tokens to save, e.g. ['<pill>', '<scratch>']")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows: dict[str, torch.Tensor] = {}
    if backbone.text_encoder is not None:
        rows["clip_l"] = _embedding_rows(backbone.text_encoder, backbone.tokenizer, tokens)
    if backbone.text_encoder_2 is not None:
        rows["clip_g"] = _embedding_rows(backbone.text_encoder_2, backbone.tokenizer_2, tokens)
    paths = []
    for i, token in enumerate(tokens):
        if backbone.family == "sdxl":
            content = {key: value[i : i + 1].contiguous() for key, value in rows.items()}
        else:
            content = {token: rows["clip_l"][i].contiguous()}
        path = folder / f"{token}.safetensors"
        save_file(content, str(path), metadata={"token": token})
        paths.append(path)
    return paths


def textual_inversion_files(folder: str | Path) -> dict[str, Path]:
    """Token -> file of the embeddings saved in ``folder`` by ``save_textual_inversion``."""
    files = sorted(Path(folder).glob("<*>.safetensors"))
    if not files:
        raise FileNotFoundError(f"no '<token>.safetensors' textual-inversion files in {folder}")
    return {path.stem: path for path in files}


def load_textual_inversion_into(pipe: Any, folder: str | Path) -> list[str]:
    """Load every saved token into a stock diffusers pipeline (both text encoders for SDXL)."""
    loaded = []
    for token, path in textual_inversion_files(folder).items():
        content = load_file(str(path))
        if "clip_l" in content or "clip_g" in content:
            pairs = [("clip_l", "text_encoder", "tokenizer"), ("clip_g", "text_encoder_2", "tokenizer_2")]
            for key, encoder, tokenizer in pairs:
                if key in content and getattr(pipe, encoder, None) is not None:
                    pipe.load_textual_inversion(
                        content[key],
                        token=token,
                        text_encoder=getattr(pipe, encoder),
                        tokenizer=getattr(pipe, tokenizer),
                    )
        else:
            pipe.load_textual_inversion(str(path))
        loaded.append(token)
    return loaded


def learned_tokens(backbone: Backbone) -> list[str]:
    """The placeholder tokens (``<name>``) added to the backbone's first tokenizer, in id order."""
    tokenizer = backbone.text_pairs[0][0]
    special = set(tokenizer.all_special_tokens)
    added = tokenizer.get_added_vocab()
    found = [t for t in added if t.startswith("<") and t.endswith(">") and t not in special and " " not in t]
    return sorted(found, key=added.__getitem__)


def load_token_rows(backbone: Backbone, folder: str | Path, tokens: Sequence[str]) -> None:
    """Add ``tokens`` (in this order) to every tokenizer of ``backbone`` and set their embedding rows
    from the ``<token>.safetensors`` files ``save_textual_inversion`` wrote in ``folder``."""
    folder = Path(folder)
    contents = {}
    for token in tokens:
        path = folder / f"{token}.safetensors"
        if not path.is_file():
            raise DataError(
                f"{path} is missing: the saved model lists the learned token {token} but has no file for it."
            )
        contents[token] = load_file(str(path))
    names = [token[1:-1] for token in tokens]
    keys = {id(backbone.text_encoder): "clip_l", id(backbone.text_encoder_2): "clip_g"}
    for tokenizer, encoder in backbone.text_pairs:
        ids = add_placeholder_tokens(tokenizer, encoder, names)
        weight = encoder.get_input_embeddings().weight
        with torch.no_grad():
            for token, row in zip(tokens, ids, strict=True):
                content = contents[token]
                vector = content[keys[id(encoder)]] if backbone.family == "sdxl" else content[token]
                weight[row] = vector.reshape(-1).to(weight)
