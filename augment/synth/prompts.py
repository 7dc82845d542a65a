"""How one generate call conditions the model: its prompts and, if asked, double-free guidance.

By default the defect prompt is "a photo of a <pill> with a <crack>" and classifier-free guidance
pushes away from the product-only prompt "a photo of a <pill>". ``prompt`` replaces the defect
prompt (e.g. "a photo of a <pill> with a deep <crack>, macro"), ``negative_prompt`` the prompt
guidance pushes away from. Giving ``w_product`` or ``w_defect`` switches to double-free guidance
(``augment.synth.guidance``, DefectDiffu): three branches, the null one (the negative prompt, by
default ""), the product prompt and the defect prompt, with separate product and defect scales.
Classic guidance with scale ``s`` and the product prompt as negative is the special case
``w_product = 1 - s``, ``w_defect = s``. ``product`` picks which of a several-product model's
products is painted on: its token in the prompts and, by default, its defect-free images, so a
defect learned on one product can be painted on another (zero-shot transfer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from augment.masks.threshold import THRESHOLDS
from augment.models.tokens import prompt_for

__all__ = ["Prompting", "check_threshold"]


def _text(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string (or None for the default), got {type(value).__name__}.")
    return value


def _scale(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (or None), got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class Prompting:
    """Custom prompts and double-free guidance scales of one generate call (all optional)."""

    prompt: str | None = None
    negative_prompt: str | None = None
    w_product: float | None = None
    w_defect: float | None = None
    product: str | None = None  # the product painted on (its token; None: the synthesizer's first)

    def __post_init__(self) -> None:
        object.__setattr__(self, "product", _text("product", self.product))
        object.__setattr__(self, "prompt", _text("prompt", self.prompt))
        object.__setattr__(self, "negative_prompt", _text("negative_prompt", self.negative_prompt))
        object.__setattr__(self, "w_product", _scale("w_product", self.w_product))
        object.__setattr__(self, "w_defect", _scale("w_defect", self.w_defect))

    @property
    def double_free(self) -> bool:
        return self.w_product is not None or self.w_defect is not None

    def scales(self, guidance: float) -> tuple[float, float]:
        """(w_product, w_defect) of double-free guidance: 1 and ``guidance`` where not given."""
        return (
            1.0 if self.w_product is None else self.w_product,
            guidance if self.w_defect is None else self.w_defect,
        )

    def texts(self, product: str, defect: str) -> tuple[str, str, str | None]:
        """(defect prompt, negative prompt, product prompt or None without double-free guidance)."""
        positive = self.prompt if self.prompt is not None else prompt_for(product, defect)
        if self.double_free:
            negative = self.negative_prompt if self.negative_prompt is not None else ""
            return positive, negative, prompt_for(product, None)
        negative = self.negative_prompt if self.negative_prompt is not None else prompt_for(product, None)
        return positive, negative, None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Prompting:
        """The prompting a pair's record was made with (its exact prompt texts and scales)."""
        return cls(
            record.get("prompt"),
            record.get("negative_prompt"),
            record.get("w_product"),
            record.get("w_defect"),
            record.get("product"),
        )


def check_threshold(threshold: str | None, mode: str) -> str:
    """The attention-mask threshold of text2img (default 'otsu'); ValueError for another mode."""
    if threshold is None:
        return "otsu"
    if mode != "text2img":
        raise ValueError(
            f"threshold= applies to mode='text2img' (its masks come from attention), not {mode!r}."
        )
    if threshold not in THRESHOLDS:
        raise ValueError(f"threshold must be one of {list(THRESHOLDS)}, got {threshold!r}.")
    return threshold
