"""Double-free guidance: separate scales for the product and the defect conditions (DefectDiffu).

``eps = eps(null) + w_p (eps(product) - eps(null)) + w_d (eps(defect) - eps(null))``. The product
scale keeps the object looking like itself; the defect scale sets how strongly the defect appears,
so a sweep over ``w_d`` goes from a barely visible defect to a pronounced one.
"""

from __future__ import annotations

import math

import torch

__all__ = ["GUIDANCE_BRANCHES", "double_free_guidance", "split_branches"]

# Order of the three conditions in one batched UNet call.
GUIDANCE_BRANCHES = ("null", "product", "defect")


def _check_weight(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def double_free_guidance(
    eps_null: torch.Tensor,
    eps_product: torch.Tensor,
    eps_defect: torch.Tensor,
    w_product: float,
    w_defect: float,
) -> torch.Tensor:
    """Combine the three noise predictions; ``w_product = w_defect = 0`` gives ``eps_null`` back."""
    w_product = _check_weight("w_product", w_product)
    w_defect = _check_weight("w_defect", w_defect)
    if not eps_null.shape == eps_product.shape == eps_defect.shape:
        raise ValueError(
            f"the three noise predictions must have one shape, got null {tuple(eps_null.shape)}, "
            f"product {tuple(eps_product.shape)}, defect {tuple(eps_defect.shape)}"
        )
    return eps_null + w_product * (eps_product - eps_null) + w_defect * (eps_defect - eps_null)


def split_branches(eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split a batched prediction ordered as ``GUIDANCE_BRANCHES`` into (null, product, defect)."""
    if eps.shape[0] % 3:
        raise ValueError(
            f"expected a batch of 3 * n predictions ordered {GUIDANCE_BRANCHES}, got batch {eps.shape[0]}"
        )
    null, product, defect = eps.chunk(3)
    return null, product, defect
