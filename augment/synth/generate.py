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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from augment.data.pairs import SyntheticPair
from augment.errors import TooFewPairsError
from augment.masks.changed import Visibility, changed_region, harmonized_region
from augment.masks.foreground import ForegroundCache
from augment.masks.paste import Blend, paste_defect
from augment.masks.quality import QualityFilter
from augment.masks.sampler import MaskSampler
from augment.models.backbone import Backbone
from augment.synth.inputs import SourcePlan, check_masks
from augment.synth.prompts import Prompting
from augment.synth.refiner import refine_in_mask
from augment.synth.sampling import SampleConfig, inpaint
from augment.synth.text2img import Text2ImgConfig, mask_quality, text_to_image

# The messages are the synthesizer's: keep its logger name so logging configuration still applies.
logger = logging.getLogger("augment.synth.synthesizer")

__all__ = [
    "HARMONIZE_BLEND",
    "HARMONIZE_GROW",
    "Drawn",
    "PaintSpec",
    "harmonize_inputs",
    "inpaint_pairs",
    "paint",
    "record_inputs",
    "repaint",
    "text2img_pairs",
]

Shot = tuple[np.ndarray, np.ndarray]
HARMONIZE_GROW = 2  # px: the re-noised region of a pasted defect reaches this far past its mask
# How harmonize pastes before re-noising: Poisson cloning takes the surface's own tone under the
# defect (KID x1e3 to KSDD validation cracks 35.4 against 63.2 for feathered alpha, strength 0.1/0.2).
HARMONIZE_BLEND: Blend = "seamless"


@dataclass(frozen=True)
class PaintSpec:
    """What every inpainted pair of one ``generate`` call shares.

    ``grayscale``: the data has no colour, so the output is made gray too (a small colour model
    tints what it paints); ``visibility``: the rule that decides which painted pixels are a
    defect and are kept (``augment.masks.changed``); ``prompting``: custom prompts and double-free
    guidance (``augment.synth.prompts``; its scales are in ``cfg``).
    """

    backbone: Backbone
    product: str
    defect: str
    cfg: SampleConfig
    refine: tuple[Backbone, float] | None = None
    grayscale: bool = False
    visibility: Visibility = field(default_factory=Visibility)
    prompting: Prompting = field(default_factory=Prompting)
    refiner_name: str | None = None  # what the record calls the refiner (default: its source)


def _gray(image: np.ndarray) -> np.ndarray:
    """The channel mean, repeated into three channels."""
    mean = np.rint(image.astype(np.float32).mean(axis=2, keepdims=True))
    return np.repeat(mean.astype(np.uint8), 3, axis=2)


def paint(
    spec: PaintSpec,
    seed: int,
    source: np.ndarray,
    mask: np.ndarray,
    init: np.ndarray | None = None,
    core: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One inpainting run (+ optional refiner pass) from a pair seed: (image, label).

    Only the visible defect the model painted is kept, on the source's own texture, and the
    label marks it plus every pixel that changed (``augment.masks.changed.changed_region``). With
    ``core`` (a harmonized paste: the pasted defect's own mask inside ``mask``), the re-rendered
    paste is kept whole and labelled with its real annotation (``harmonized_region``).
    """
    prompt, negative, product_prompt = spec.prompting.texts(spec.product, spec.defect)
    gen = torch.Generator().manual_seed(seed)
    out = inpaint(spec.backbone, source, mask, prompt, negative, spec.cfg, gen, init, product_prompt)
    if spec.refine is not None:
        refiner, strength = spec.refine
        out = refine_in_mask(refiner, out, mask, spec.product, spec.defect, strength, spec.cfg, gen)
    if spec.grayscale:
        out = _gray(out)
    if core is not None:
        return harmonized_region(source, out, mask, core, spec.visibility)
    return changed_region(source, out, mask, spec.visibility)


class Drawn(NamedTuple):
    """What one pair is painted from: the region to paint, the start image of a partial run
    (harmonize: the paste), the pasted defect's own mask (harmonize) and the record's extras."""

    mask: np.ndarray
    init: np.ndarray | None = None
    core: np.ndarray | None = None
    extra: dict[str, Any] | None = None


def harmonize_inputs(
    source: np.ndarray,
    foreground: np.ndarray,
    shots: Sequence[Shot],
    seed: int,
    blend: Blend = HARMONIZE_BLEND,
) -> Drawn | None:
    """One harmonized pair's inputs, drawn from ``seed``: a random shot's defect warped and pasted
    on the foreground (``augment.masks.paste``, ``blend``ed), the region to re-noise (its mask grown
    by ``HARMONIZE_GROW`` px) and the pasted mask; None when it fits nowhere on this image."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(len(shots)))
    pasted = paste_defect(source, shots[k][0], shots[k][1], rng, foreground, blend=blend)
    if pasted is None:
        return None
    image, mask = pasted
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HARMONIZE_GROW + 1,) * 2)
    grown = cv2.dilate(mask.astype(np.uint8), kernel)
    return Drawn(grown, image, mask, {"mask_source": "harmonize", "shot": k, "paste_blend": blend})


def record_inputs(
    record: dict[str, Any],
    source: np.ndarray,
    given: np.ndarray | None,
    shots: Sequence[Shot],
) -> Drawn:
    """What a record's pair was painted from: the ``given`` mask, or redrawn from its seed."""
    seed, kind = int(record["seed"]), record["mask_source"]
    if kind == "given":
        if given is None:
            raise ValueError("this pair was made from a given mask; pass it as mask=.")
        return Drawn(check_masks([given], [source])[0])
    foreground = ForegroundCache([source])[0]
    if kind == "harmonize":
        # records written before paste_blend existed pasted with feathered alpha
        drawn = harmonize_inputs(source, foreground, shots, seed, record.get("paste_blend", "feather"))
        if drawn is None:
            raise ValueError(
                "the record's pasted defect does not fit on this image; pass its own source image."
            )
        return drawn
    # records written before mask_rotation existed used full rotation
    rotation = float(record.get("mask_rotation", 180.0))
    sampler = MaskSampler.create(kind, [m for _, m in shots], rotation, str(record["defect"]))
    return Drawn(sampler(foreground, np.random.default_rng(seed)))


def repaint(
    spec: PaintSpec,
    record: dict[str, Any],
    source: np.ndarray,
    given: np.ndarray | None,
    shots: Sequence[Shot],
) -> SyntheticPair:
    """The pair ``record`` describes, painted again from its seed into ``source`` (``reproduce``)."""
    drawn = record_inputs(record, source, given, shots)
    out, label = paint(spec, int(record["seed"]), source, drawn.mask, drawn.init, drawn.core)
    return SyntheticPair(out, label, dict(record))


def _record(
    spec: PaintSpec, seed: int, source_name: str, mask: np.ndarray, fingerprint: str
) -> dict[str, Any]:
    """Everything ``reproduce`` needs to rebuild the pair, in the manifest's key order."""
    cfg = spec.cfg
    prompt, negative, _ = spec.prompting.texts(spec.product, spec.defect)
    record: dict[str, Any] = {
        "seed": seed,
        "prompt": prompt,
        "negative_prompt": negative,
        "defect": spec.defect,
        "product": spec.product,
        "strength": cfg.strength,
        "guidance": cfg.guidance,
        "steps": cfg.steps,
        "resolution": cfg.resolution,
        "overlap": cfg.overlap,
        "margin": cfg.margin,
        "source_image": source_name,
        "input_mask_area": int(mask.sum()),
        "grayscale": spec.grayscale,
        "visibility": spec.visibility.to_dict(),
        "model_fingerprint": fingerprint,
    }
    if cfg.w_defect is not None:
        record |= {"w_product": cfg.w_product, "w_defect": cfg.w_defect}
    if spec.refine is not None:
        name = spec.refiner_name or spec.refine[0].source
        record |= {"refiner": name, "refiner_strength": spec.refine[1]}
    return record


Draw = Callable[[int, int, np.ndarray], Drawn | None]


def mask_drawer(plan: SourcePlan, shots: Sequence[Shot], harmonize: bool) -> Draw:
    """``draw(k, seed, foreground) -> Drawn | None`` (None: a paste that fits nowhere) for one call's plan."""

    def draw(k: int, seed: int, foreground: np.ndarray) -> Drawn | None:
        if plan.given is not None:
            return Drawn(plan.given[k], extra={"mask_source": "given"})
        if harmonize:
            return harmonize_inputs(plan.images[k], foreground, shots, seed)
        mask = plan.sampler(foreground, np.random.default_rng(seed))
        extra: dict[str, Any] = {"mask_source": plan.sampler.source}
        if plan.sampler.source == "real":
            extra["mask_rotation"] = plan.mask_rotation
        return Drawn(mask, extra=extra)

    return draw


def inpaint_pairs(
    spec: PaintSpec,
    n: int,
    plan: SourcePlan,
    seeds: np.random.Generator,
    shots: list[Shot],
    fingerprint: str,
    use_filter: bool,
    max_attempts: int,
    progress: bool,
    report: dict[str, Any],
    harmonize: bool = False,
) -> list[SyntheticPair]:
    """``n`` painted pairs: given masks cycle with their images, sampled masks (or, with
    ``harmonize``, pasted shots) pick random sources. A harmonized pair is a real shot's defect by
    design, so the near-duplicate check is skipped for it."""
    sources, given = plan.images, plan.given
    fg, filt = ForegroundCache(sources), QualityFilter()
    draw = mask_drawer(plan, shots, harmonize)
    pairs: list[SyntheticPair] = []
    bar = tqdm(total=n, desc=f"generate {spec.defect}", disable=not progress)
    attempt, unplaced = 0, 0
    while len(pairs) < n and attempt < max_attempts:
        k = attempt % len(sources) if given is not None else int(seeds.integers(len(sources)))
        seed = int(seeds.integers(0, 2**31 - 1))
        attempt += 1
        drawn = draw(k, seed, fg[k])
        if drawn is None:
            unplaced += 1
            continue
        out, label = paint(spec, seed, sources[k], drawn.mask, drawn.init, drawn.core)
        if use_filter and not filt.check(sources[k], out, label, fg[k], () if harmonize else shots)[0]:
            continue
        record = _record(spec, seed, plan.names[k], drawn.mask, fingerprint) | (drawn.extra or {})
        pairs.append(SyntheticPair(out, label, record))
        bar.update(1)
    bar.close()
    report |= filt.summary() | {
        "accepted": len(pairs), "attempts": attempt, "filtered": int(use_filter), "unplaced": unplaced,
    }  # fmt: skip
    rejected = {k: v for k, v in filt.counts.items() if v}
    logger.info(
        "generate %s: %d accepted, %d rejected %s, %d pastes fitted nowhere",
        spec.defect, len(pairs), report["rejected"], rejected, unplaced,
    )  # fmt: skip
    if len(pairs) < n:
        raise TooFewPairsError(
            f"only {len(pairs)} of {n} {spec.defect} pairs passed the quality filter in "
            f"{attempt} attempts (rejected: {dict(filt.counts)}, pastes that fitted nowhere: {unplaced}); "
            "fit longer, raise strength or guidance, or pass quality_filter=False."
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
    shot_masks: Sequence[np.ndarray] | None = None,
) -> list[SyntheticPair]:
    """Whole-window pairs (``augment.synth.text2img``); a pair whose attention mask is empty is
    redrawn. With ``shot_masks``, ``report["mask_quality"]`` compares the masks with them."""
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
    if shot_masks is not None:
        report["mask_quality"] = mask_quality([p.mask for p in pairs], shot_masks, cfg.resolution)
    return pairs
