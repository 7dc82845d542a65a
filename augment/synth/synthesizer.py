"""``DefectSynthesizer``: learn each defect type from a few shots, paint new ones into good images.

Shaped like a diffusers pipeline: components (the ``Backbone``) are passed in; the configuration is
the constructor's arguments (``SynthConfig``, ``config.json``), what ``fit`` learnt is kept apart
(``FittedState``, ``fitted.json``); ``save_pretrained`` / ``from_pretrained`` (``augment.synth.io``)
round-trip an identical synthesizer: same seed, same pairs. Generation has three focused entry
points, ``inpaint``, ``harmonize`` and ``text_to_image``, and ``generate`` as the front door; each
validates all its arguments before it reads a file. To keep each file readable, ``fit`` lives in
the ``augment.synth.fitting`` mixin and the focused entry points in ``augment.synth.painting``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augment.data.pairs import SyntheticPair
from augment.devices import resolve_device, resolve_dtype
from augment.masks.geometry import DEFAULT_MAX_ROTATION
from augment.models.backbone import Backbone
from augment.models.embedded import build_embedded_backbone
from augment.models.fingerprint import WeightsFingerprint
from augment.synth.config import FittedState, SynthConfig
from augment.synth.fitting import Fitting
from augment.synth.inputs import DEFAULT_STRENGTH, SeedSource, check_generate_counts, check_mode_args
from augment.synth.io import load_folder, save_folder
from augment.synth.painting import Images, Masks, Painting
from augment.synth.prompts import Prompting, check_threshold
from augment.synth.refiner import DEFAULT_REFINER_STRENGTH, RefinerCache

__all__ = ["DefectSynthesizer"]


class DefectSynthesizer(Fitting, Painting):
    """Few-shot defect synthesizer on a diffusers backbone (the embedded default when none is given).

    The other arguments are the fields of ``SynthConfig`` (``resolution``: the model window in image
    pixels, by default the backbone's native size: 512 for SD 1.5 / 2, 1024 for SDXL; ``channels``,
    ``seed``) and of ``FittedState`` (``product``, ``defects``, ``good_images``, ``grayscale``,
    ``bit_depth``, ``products``, ``good_products``, ``shot_images``: filled by ``fit`` and saved;
    pass them only to rebuild a fitted synthesizer).
    The models stay where the backbone is (the embedded default: the CPU, float32); ``to(device,
    dtype)``, ``from_pretrained(..., device=, dtype=)`` and ``fit(..., device=, dtype=)`` move them.
    """

    def __init__(
        self,
        backbone: Backbone | None = None,
        resolution: int | None = None,
        channels: Sequence[int] = (16, 32, 64, 96),
        seed: int = 0,
        product: str | None = None,
        defects: Sequence[str] = (),
        good_images: Sequence[str] = (),
        grayscale: bool = False,
        bit_depth: int | None = None,
        products: Sequence[str] = (),
        good_products: Sequence[str] = (),
        shot_images: Sequence[str] = (),
    ) -> None:
        if resolution is None:
            resolution = backbone.native_resolution if backbone is not None else SynthConfig.resolution
        self.config = SynthConfig(resolution, tuple(channels), seed)
        self.fitted = FittedState(
            product,
            tuple(defects),
            tuple(good_images),
            grayscale,
            bit_depth,
            tuple(products),
            tuple(good_products),
            tuple(shot_images),
        )
        if backbone is None:
            backbone = build_embedded_backbone(self.config.resolution, self.config.channels, seed=seed)
        self.backbone = backbone
        self.shots: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.last_report: dict[str, Any] = {}
        self.fitted_refiner: Backbone | None = None  # an SDXL refiner fitted with fit(refiner=...)
        self._refiners = RefinerCache()
        self._fingerprint = WeightsFingerprint()

    def to(
        self, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None
    ) -> DefectSynthesizer:
        """Move the models to ``device`` (auto / cpu / cuda / cuda:N; auto: the GPU when there is one)
        and / or cast them to ``dtype`` (fp32 / bf16 / fp16; fp16 needs a GPU); returns ``self``."""
        where = resolve_device(device) if device is not None else self.backbone.device
        cast = None if dtype is None else resolve_dtype(dtype, where)
        for models in (self.backbone, self.fitted_refiner):
            if models is not None:
                models.to(where, cast)
        return self

    def fingerprint(self) -> str:
        """Short hash of the trained weights, kept until a weight changes (``WeightsFingerprint``)."""
        b, r = self.backbone, self.fitted_refiner
        refiner = () if r is None else (r.unet, r.text_encoder_2)
        return self._fingerprint((b.unet, b.text_encoder, b.text_encoder_2, *refiner))

    # ---------------------------------------------------------------- generate
    def generate(
        self,
        n: int,
        defect: str | None = None,
        images: Images = None,
        masks: Masks = None,
        strength: float | None = None,
        guidance: float = 1.0,
        steps: int = 12,
        generator: SeedSource = None,
        mask_source: str = "real",
        quality_filter: bool = True,
        max_attempts: int | None = None,
        product: str | None = None,
        progress: bool = True,
        mode: str = "inpaint",
        w_product: float | None = None,
        refiner: str | Path | Backbone | bool | None = None,
        refiner_strength: float = DEFAULT_REFINER_STRENGTH,
        mask_quality: bool = False,
        mask_rotation: float = DEFAULT_MAX_ROTATION,
        w_defect: float | None = None,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        threshold: str | None = None,
    ) -> list[SyntheticPair]:
        """``n`` pairs of ``defect``: the front door to ``inpaint``, ``harmonize`` and ``text_to_image``
        (``mode``). ``strength=None`` takes the mode's default (``DEFAULT_STRENGTH``). ``prompt`` /
        ``negative_prompt`` replace the defect prompt and the one guidance pushes away from
        (``augment.synth.prompts``). ``w_product`` / ``w_defect`` are double-free guidance's scales:
        text2img always uses it (defaults ``guidance`` and ``guidance * strength``); inpaint and
        harmonize switch to it from classic guidance when either is given (defaults 1 and ``guidance``).
        ``threshold``: how text2img binarises attention maps, 'otsu' (default) or 'iterative'.
        """
        check_mode_args(mode, masks, refiner, mask_quality, product, self.fitted.products)
        method = check_threshold(threshold, mode)
        strength = DEFAULT_STRENGTH[mode] if strength is None else strength
        check_generate_counts(n, strength, steps)
        prompting = Prompting(prompt, negative_prompt, w_product, w_defect, product)
        if mode == "text2img":
            w_p = guidance if w_product is None else w_product
            w_d = guidance * strength if w_defect is None else w_defect
            return self.text_to_image(
                n, defect, steps, w_p, w_d, generator, max_attempts, mask_quality, method, prompt, negative_prompt,
                product,
            )  # fmt: skip
        if mode == "harmonize":
            return self.harmonize(
                n, defect, images, strength, guidance, steps, generator, quality_filter, max_attempts,
                progress, prompting=prompting,
            )  # fmt: skip
        return self.inpaint(
            n, defect, images, masks, strength, guidance, steps, generator, mask_source,
            quality_filter, max_attempts, progress, refiner, refiner_strength, mask_rotation, prompting,
        )  # fmt: skip

    # ---------------------------------------------------------------- save / load
    def save_pretrained(self, path: str | Path) -> Path:
        """Write config.json, fitted.json, one folder per component (safetensors) and the shots."""
        return save_folder(
            path, type(self).__name__, self.config, self.fitted, self.fingerprint(), self.backbone, self.shots,
            self.fitted_refiner,
        )  # fmt: skip

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
    ) -> DefectSynthesizer:
        """Reload a synthesizer written by ``save_pretrained``, on ``device`` in ``dtype`` (see ``to``)."""
        saved = load_folder(path, cls.__name__)
        synth = cls(saved.backbone, **saved.config.to_dict(), **saved.fitted.to_dict())
        synth.shots, synth.fitted_refiner = saved.shots, saved.refiner
        return synth.to(device, dtype) if device is not None or dtype is not None else synth
