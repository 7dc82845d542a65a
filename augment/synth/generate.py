"""The generation loops behind ``DefectSynthesizer.inpaint``, ``text_to_image`` and ``reproduce``.

Pure functions over a backbone: ``paint`` makes one inpainted pair from its seed (plus the optional
refiner pass), ``inpaint_pairs`` draws sources, masks and seeds until ``n`` pairs pass the quality
filter, ``text2img_pairs`` draws whole images until ``n`` have a non-empty attention mask. The
synthesizer keeps the state (weights, shots, configuration) and passes in what one call needs
(checked and loaded by ``augment.synth.inputs``); each loop fills ``report`` (the synthesizer's
``last_report``) before it raises ``TooFewPairsError`` for too few pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from augment.data.pairs import SyntheticPair
from augment.errors import TooFewPairsError
from augment.masks.changed import changed_region
from augment.masks.foreground import ForegroundCache
from augment.masks.quality import QualityFilter
from augment.masks.sampler import MaskSampler
from augment.models.backbone import Backbone
from augment.models.tokens import prompt_for
from augment.synth.inputs import SourcePlan, check_masks
from augment.synth.refiner import refine_in_mask
from augment.synth.sampling import SampleConfig, inpaint
from augment.synth.text2img import Text2ImgConfig, text_to_image

# The messages are the synthesizer's: keep its logger name so logging configuration still applies.
logger = logging.getLogger("augment.synth.synthesizer")

__all__ = ["PaintSpec", "inpaint_pairs", "paint", "record_mask", "text2img_pairs"]


@dataclass(frozen=True)
class PaintSpec:
    """What every inpainted pair of one ``generate`` call shares."""

    backbone: Backbone
    product: str
    defect: str
    cfg: SampleConfig
    refine: tuple[Backbone, float] | None = None


def paint(spec: PaintSpec, seed: int, source: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One inpainting run (+ optional refiner pass) from a pair seed: (image, changed-region mask)."""
    prompt, negative = prompt_for(spec.product, spec.defect), prompt_for(spec.product, None)
    gen = torch.Generator().manual_seed(seed)
    out = inpaint(spec.backbone, source, mask, prompt, negative, spec.cfg, gen)
    if spec.refine is not None:
        refiner, strength = spec.refine
        out = refine_in_mask(refiner, out, mask, spec.product, spec.defect, strength, spec.cfg, gen)
    return out, changed_region(source, out, mask)


def record_mask(
    record: dict[str, Any], source: np.ndarray, given: np.ndarray | None, shot_masks: Sequence[np.ndarray]
) -> np.ndarray:
    """The input mask a record's pair was painted under: the ``given`` one, or redrawn from its seed."""
    if record["mask_source"] == "given":
        if given is None:
            raise ValueError("this pair was made from a given mask; pass it as mask=.")
        return check_masks([given], [source])[0]
    # records written before mask_rotation existed used full rotation
    rotation = float(record.get("mask_rotation", 180.0))
    sampler = MaskSampler.create(record["mask_source"], shot_masks, rotation, str(record["defect"]))
    return sampler(ForegroundCache([source])[0], np.random.default_rng(int(record["seed"])))


def _record(
    spec: PaintSpec, seed: int, source_name: str, mask_source: str, mask: np.ndarray, fingerprint: str
) -> dict[str, Any]:
    """Everything ``reproduce`` needs to rebuild the pair, in the manifest's key order."""
    cfg = spec.cfg
    record: dict[str, Any] = {
        "seed": seed,
        "prompt": prompt_for(spec.product, spec.defect),
        "negative_prompt": prompt_for(spec.product, None),
        "defect": spec.defect,
        "product": spec.product,
        "strength": cfg.strength,
        "guidance": cfg.guidance,
        "steps": cfg.steps,
        "resolution": cfg.resolution,
        "source_image": source_name,
        "mask_source": mask_source,
        "input_mask_area": int(mask.sum()),
        "model_fingerprint": fingerprint,
    }
    if spec.refine is not None:
        record |= {"refiner": spec.refine[0].source, "refiner_strength": spec.refine[1]}
    return record


def inpaint_pairs(
    spec: PaintSpec,
    n: int,
    plan: SourcePlan,
    seeds: np.random.Generator,
    shots: list[tuple[np.ndarray, np.ndarray]],
    fingerprint: str,
    use_filter: bool,
    max_attempts: int,
    progress: bool,
    report: dict[str, Any],
) -> list[SyntheticPair]:
    """``n`` inpainted pairs: given masks cycle with their images, sampled masks pick random sources."""
    sources, given, sampler = plan.images, plan.given, plan.sampler
    fg, filt = ForegroundCache(sources), QualityFilter()
    pairs: list[SyntheticPair] = []
    bar = tqdm(total=n, desc=f"generate {spec.defect}", disable=not progress)
    attempt = 0
    while len(pairs) < n and attempt < max_attempts:
        k = attempt % len(sources) if given is not None else int(seeds.integers(len(sources)))
        seed = int(seeds.integers(0, 2**31 - 1))
        attempt += 1
        source = sources[k]
        mask = given[k] if given is not None else sampler(fg[k], np.random.default_rng(seed))
        out, changed = paint(spec, seed, source, mask)
        if use_filter and not filt.check(source, out, changed, fg[k], shots)[0]:
            continue
        mask_source = "given" if given is not None else sampler.source
        record = _record(spec, seed, plan.names[k], mask_source, mask, fingerprint)
        if mask_source == "real":
            record["mask_rotation"] = plan.mask_rotation
        pairs.append(SyntheticPair(out, changed, record))
        bar.update(1)
    bar.close()
    report |= filt.summary() | {"accepted": len(pairs), "attempts": attempt, "filtered": int(use_filter)}
    rejected = {k: v for k, v in filt.counts.items() if v}
    logger.info(
        "generate %s: %d accepted, %d rejected %s", spec.defect, len(pairs), report["rejected"], rejected
    )
    if len(pairs) < n:
        raise TooFewPairsError(
            f"only {len(pairs)} of {n} {spec.defect} pairs passed the quality filter in "
            f"{attempt} attempts (rejected: {dict(filt.counts)}); fit longer, raise strength "
            "or guidance, or pass quality_filter=False."
        )
    return pairs


def text2img_pairs(
    backbone: Backbone,
    product: str,
    defect: str,
    n: int,
    cfg: Text2ImgConfig,
    seeds: np.random.Generator,
    fingerprint: str,
    max_attempts: int,
    report: dict[str, Any],
) -> list[SyntheticPair]:
    """Whole-image pairs (``augment.synth.text2img``); a pair whose attention mask is empty is redrawn."""
    pairs: list[SyntheticPair] = []
    attempts = 0
    while len(pairs) < n and attempts < max_attempts:
        attempts += 1
        seed = int(seeds.integers(0, 2**31 - 1))
        pair = text_to_image(backbone, product, defect, 1, cfg, seed)[0]
        if pair.mask.any():
            pair.record["model_fingerprint"] = fingerprint
            pairs.append(pair)
    report |= {"accepted": len(pairs), "rejected": attempts - len(pairs), "attempts": attempts}
    if len(pairs) < n:
        raise TooFewPairsError(
            f"only {len(pairs)} of {n} text2img {defect} pairs had a non-empty attention mask in "
            f"{attempts} attempts; fit longer or raise the guidance."
        )
    return pairs
