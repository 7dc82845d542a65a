"""``DefectSynthesizer``'s focused generation entry points: ``inpaint``, ``harmonize``,
``text_to_image`` and ``reproduce``.

A mixin of ``DefectSynthesizer`` (``augment.synth.synthesizer``, whose ``generate`` is the front
door): each entry point checks its arguments, turns them into one call's ``PaintSpec`` or
``Text2ImgConfig`` and runs the loops of ``augment.synth.generate`` on the synthesizer's models,
shots and fitted state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from augment.data.pairs import SyntheticPair
from augment.masks.geometry import DEFAULT_MAX_ROTATION, check_rotation
from augment.masks.sampler import parse_mask_source
from augment.models.backbone import Backbone
from augment.synth.config import FittedState, SynthConfig
from augment.synth.generate import PaintSpec, inpaint_pairs, repaint, text2img_pairs
from augment.synth.inputs import (
    DEFAULT_STRENGTH,
    SeedSource,
    SourcePlan,
    check_generate_counts,
    check_images,
    check_mode_args,
    harmonize_shots,
    plan_sources,
    seed_stream,
)
from augment.synth.prompts import Prompting, check_threshold
from augment.synth.refiner import (
    DEFAULT_REFINER_STRENGTH,
    FITTED_REFINER,
    RefinerCache,
    check_refiner_strength,
)
from augment.synth.sampling import SampleConfig
from augment.synth.text2img import Text2ImgConfig

__all__ = ["Images", "Masks", "Painting"]

Images = Sequence[np.ndarray | str | Path] | np.ndarray | None
Masks = Sequence[np.ndarray] | np.ndarray | None


class Painting:
    """The generation entry points of ``DefectSynthesizer`` and the state they read."""

    backbone: Backbone
    fitted_refiner: Backbone | None
    config: SynthConfig
    fitted: FittedState
    shots: dict[str, list[tuple[np.ndarray, np.ndarray]]]
    last_report: dict[str, Any]
    _refiners: RefinerCache

    @property
    def product(self) -> str | None:
        return self.fitted.product

    @property
    def defects(self) -> list[str]:
        return list(self.fitted.defects)

    def fingerprint(self) -> str:
        """Short hash of the weights (``DefectSynthesizer.fingerprint``)."""
        raise NotImplementedError

    def check_defect(self, defect: str | None) -> str:
        """The fitted defect type to use: ``defect``, or the only one when None (ValueError otherwise)."""
        if not self.defects:
            raise ValueError(
                "this synthesizer is not fitted yet; call fit(...) or load a fitted one "
                "with DefectSynthesizer.from_pretrained(path)."
            )
        if defect is None:
            if len(self.defects) > 1:
                raise ValueError(f"choose a defect type: this synthesizer knows {self.defects}.")
            return self.defects[0]
        if defect not in self.defects:
            raise ValueError(f"unknown defect type {defect!r}; fitted types are {self.defects}.")
        return defect

    def _fitted_product(self, product: str | None = None) -> str:
        """The product the prompts name: ``product`` (one of the fitted ones) or the first fitted."""
        if self.product is None:
            raise ValueError(
                "this synthesizer has no product name; call fit(...) first or pass "
                "product=... to DefectSynthesizer(...)."
            )
        check_mode_args("inpaint", None, None, False, product, self.fitted.products)
        return self.product if product is None else product

    def inpaint(
        self,
        n: int,
        defect: str | None = None,
        images: Images = None,
        masks: Masks = None,
        strength: float = 1.0,
        guidance: float = 1.0,
        steps: int = 12,
        generator: SeedSource = None,
        mask_source: str = "real",
        quality_filter: bool = True,
        max_attempts: int | None = None,
        progress: bool = True,
        refiner: str | Path | Backbone | bool | None = None,
        refiner_strength: float = DEFAULT_REFINER_STRENGTH,
        mask_rotation: float = DEFAULT_MAX_ROTATION,
        prompting: Prompting | None = None,
    ) -> list[SyntheticPair]:
        """``n`` pairs with ``defect`` painted into defect-free ``images`` (arrays or paths; default the
        ones ``fit`` saw) at their own scale. ``masks=None`` samples from ``mask_source`` ('real': the
        shots' masks moved, scaled, rotated within +-``mask_rotation`` degrees, deformed, on the
        object; or 'procedural:blob|scratch|crack'). Only the painted defect visible against the
        surface is kept, on the source's texture, and the mask marks it (``augment.masks.changed``).
        Rejections are counted in ``last_report``; too few pairs raise ``TooFewPairsError``.
        ``refiner``: an SDXL refiner (hub id, folder or Backbone), a second stage inside the mask;
        None: the refiner fitted with the synthesizer when there is one; False: none.
        ``prompting``: custom prompts and double-free guidance (``augment.synth.prompts``).
        """
        check_generate_counts(n, strength, steps)
        defect = self.check_defect(defect)
        parse_mask_source(mask_source)
        mask_rotation = check_rotation(mask_rotation)
        seeds = seed_stream(generator)
        refine = self._refine(refiner, refiner_strength)
        shots = self.shots.get(defect, [])
        spec = self._paint_spec(defect, steps, strength, guidance, refine, prompting)
        plan = plan_sources(
            images, masks, mask_source, self.fitted.goods_of(spec.product), [m for _, m in shots], mask_rotation,
            defect, self.fitted.bit_depth,
        )  # fmt: skip
        return self._paint_pairs(spec, n, plan, seeds, quality_filter, max_attempts, progress, False)

    def _refine(
        self, refiner: str | Path | Backbone | bool | None, strength: float
    ) -> tuple[Backbone, float] | None:
        """The second stage a call asked for (``inpaint``'s ``refiner``), with its checked strength."""
        if refiner is None and self.fitted_refiner is not None:
            refiner = FITTED_REFINER
        if refiner is None or refiner is False:
            return None
        if refiner is True:
            raise ValueError(
                "refiner=True is not a refiner; pass a hub id, a folder or a Backbone (or None)."
            )
        if refiner == FITTED_REFINER and self.fitted_refiner is not None:
            return self.fitted_refiner, check_refiner_strength(strength)
        stage, strength = self._refiners.get(refiner, strength)
        return stage.to(self.backbone.device), strength

    def harmonize(
        self,
        n: int,
        defect: str | None = None,
        images: Images = None,
        strength: float = DEFAULT_STRENGTH["harmonize"],
        guidance: float = 1.0,
        steps: int = 12,
        generator: SeedSource = None,
        quality_filter: bool = True,
        max_attempts: int | None = None,
        progress: bool = True,
        prompting: Prompting | None = None,
    ) -> list[SyntheticPair]:
        """``n`` pairs from the real shots: a shot's defect warped and pasted on a defect-free image's
        foreground, re-noised to ``strength`` and denoised by the model inside the pasted mask grown
        by ``HARMONIZE_GROW`` px, so edges and texture fit the new surface. Outside that grown mask
        the source is kept; the mask returned is what is visibly the defect.
        """
        check_generate_counts(n, strength, steps)
        defect = self.check_defect(defect)
        shots, seeds = harmonize_shots(self.shots.get(defect, []), defect), seed_stream(generator)
        masks = [m for _, m in shots]
        spec = self._paint_spec(defect, steps, strength, guidance, None, prompting)
        goods = self.fitted.goods_of(spec.product)
        plan = plan_sources(images, None, "real", goods, masks, 0.0, defect, self.fitted.bit_depth)
        return self._paint_pairs(spec, n, plan, seeds, quality_filter, max_attempts, progress, True)

    def _paint_spec(
        self,
        defect: str,
        steps: int,
        strength: float,
        guidance: float,
        refine: tuple[Backbone, float] | None,
        prompting: Prompting | None = None,
    ) -> PaintSpec:
        prompting = prompting or Prompting()
        w_product, w_defect = prompting.scales(guidance) if prompting.double_free else (None, None)
        cfg = SampleConfig(steps, float(strength), float(guidance), self.config.resolution, w_product=w_product,
                           w_defect=w_defect)  # fmt: skip
        fitted_stage = refine is not None and refine[0] is self.fitted_refiner
        return PaintSpec(
            self.backbone, self._fitted_product(prompting.product), defect, cfg, refine, self.fitted.grayscale,
            prompting=prompting,
            refiner_name=FITTED_REFINER if fitted_stage else None,
        )  # fmt: skip

    def _paint_pairs(
        self,
        spec: PaintSpec,
        n: int,
        plan: SourcePlan,
        seeds: np.random.Generator,
        quality_filter: bool,
        max_attempts: int | None,
        progress: bool,
        harmonize: bool,
    ) -> list[SyntheticPair]:
        """The quality-filtered loop shared by ``inpaint`` and ``harmonize``."""
        self.last_report = {}
        use_filter = quality_filter and spec.cfg.strength > 0
        return self._name_shots(inpaint_pairs(
            spec, int(n), plan, seeds, self.shots.get(spec.defect, []), self.fingerprint(),
            use_filter, max_attempts or 4 * n + 4, progress, self.last_report, harmonize,
        ))  # fmt: skip

    def text_to_image(
        self,
        n: int,
        defect: str | None = None,
        steps: int = 25,
        w_product: float = 3.0,
        w_defect: float = 3.0,
        generator: SeedSource = None,
        max_attempts: int | None = None,
        mask_quality: bool = False,
        threshold: str = "otsu",
        prompt: str | None = None,
        negative_prompt: str | None = None,
        product: str | None = None,
    ) -> list[SyntheticPair]:
        """``n`` model windows generated from the prompt, masks from the defect token's cross-attention.

        Double-free guidance (``augment.synth.guidance``) with product scale ``w_product`` and defect
        scale ``w_defect``; a pair whose attention mask is empty is redrawn. ``mask_quality=True``
        adds the masks' area / IoU statistics against the shot masks to ``last_report``;
        ``threshold`` binarises the maps ('otsu' or 'iterative'); ``prompt`` (it must hold the defect
        token) and ``negative_prompt`` replace the defect prompt and the null branch's "";
        ``product``: which fitted product the prompts name (default: the first).
        """
        check_generate_counts(n, 1.0, steps)
        defect = self.check_defect(defect)
        product = self._fitted_product(product)
        texts = Prompting(prompt, negative_prompt)  # checks them
        cfg = Text2ImgConfig(
            steps, self.config.resolution, w_product, w_defect, threshold=check_threshold(threshold, "text2img"),
            prompt=texts.prompt, negative_prompt=texts.negative_prompt,
        )  # fmt: skip
        shot_masks = [m for _, m in self.shots.get(defect, [])] if mask_quality else None
        self.last_report = {}
        return self._name_shots(text2img_pairs(
            self.backbone, product, defect, int(n), cfg, seed_stream(generator), self.fingerprint(),
            max_attempts or 4 * n + 4, self.last_report, shot_masks,
        ))  # fmt: skip

    def _name_shots(self, pairs: list[SyntheticPair]) -> list[SyntheticPair]:
        """Each record names the real defect images the model was fitted on (``model_shots``), so a
        benchmark can refuse a bank whose model saw an image it is scored on (``downstream.provenance``)."""
        if self.fitted.shot_images:
            for pair in pairs:
                pair.record["model_shots"] = list(self.fitted.shot_images)
        return pairs

    def reproduce(
        self, record: dict[str, Any], image: np.ndarray, mask: np.ndarray | None = None
    ) -> SyntheticPair:
        """Rebuild a pair exactly from its record and source image (and its mask if it was given)."""
        if record.get("model_fingerprint") != self.fingerprint():
            raise ValueError(
                f"the record was made by model {record.get('model_fingerprint')}, this one is "
                f"{self.fingerprint()}; load the synthesizer that made it."
            )
        defect = self.check_defect(record["defect"])
        refine = None
        if record.get("refiner") is not None:
            refine = self._refine(record["refiner"], float(record["refiner_strength"]))
        spec = self._paint_spec(
            defect, int(record["steps"]), float(record["strength"]), float(record["guidance"]), refine,
            Prompting.from_record(record),
        )  # fmt: skip
        return repaint(spec, record, check_images([image])[0], mask, self.shots.get(defect, []))
