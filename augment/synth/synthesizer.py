"""``DefectSynthesizer``: learn each defect type from a few shots, paint new ones into good images.

Configuration is the constructor signature; ``save_pretrained`` writes it as ``config.json`` next to
each component's own folder (``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/`` and, for
latent backbones, ``vae/``; weights as safetensors) plus the fitted shots (``shots.safetensors``)
that drive the real-mask source and the near-duplicate check. ``from_pretrained`` reloads an
identical synthesizer: same seed, same pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from augment.data.index import DatasetIndex, index_folder, load_sample_arrays
from augment.data.pairs import SyntheticPair
from augment.data.split import FewShotSplit, make_split
from augment.masks.foreground import ForegroundCache
from augment.masks.geometry import DEFAULT_MAX_ROTATION
from augment.masks.sampler import MaskSampler
from augment.models.backbone import Backbone
from augment.models.embedded import build_embedded_backbone
from augment.models.fingerprint import model_fingerprint
from augment.models.tokens import add_placeholder_tokens
from augment.synth.batches import TrainData
from augment.synth.fit import train
from augment.synth.generate import PaintSpec, inpaint_pairs, paint, text2img_pairs
from augment.synth.inputs import (
    SeedSource,
    check_generate_counts,
    check_images,
    check_masks,
    plan_sources,
    seed_stream,
)
from augment.synth.io import load_folder, save_folder
from augment.synth.options import FitConfig, TrainOptions
from augment.synth.refiner import DEFAULT_REFINER_STRENGTH, check_refiner_strength, resolve_refiner
from augment.synth.sampling import SampleConfig
from augment.synth.text2img import Text2ImgConfig
from augment.synth.text2img import mask_quality as mask_stats
from augment.synth.validation import write_validation_sheet

MAX_GOOD_IMAGES = 64


class DefectSynthesizer:
    """Few-shot defect synthesizer on a diffusers backbone (the embedded default when none is given).

    ``resolution``: side of the window the model denoises; ``context``: window side over the
    defect's longer side; ``channels``: UNet widths of the embedded default; ``seed``: its initial
    weights. ``product``/``defects``/``good_images`` are filled by ``fit`` and saved.
    """

    def __init__(
        self,
        backbone: Backbone | None = None,
        resolution: int = 32,
        context: float = 1.5,
        channels: Sequence[int] = (32, 64, 96),
        seed: int = 0,
        product: str | None = None,
        defects: Sequence[str] = (),
        good_images: Sequence[str] = (),
    ) -> None:
        if backbone is None:
            backbone = build_embedded_backbone(resolution, channels, seed=seed)
        self.backbone = backbone
        self.config: dict[str, Any] = {
            "resolution": int(resolution),
            "context": float(context),
            "channels": list(channels),
            "seed": int(seed),
            "product": product,
            "defects": list(defects),
            "good_images": list(good_images),
        }
        self.shots: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.last_report: dict[str, Any] = {}
        self._refiners: dict[str, Backbone] = {}

    @property
    def product(self) -> str | None:
        return self.config["product"]

    @property
    def defects(self) -> list[str]:
        return list(self.config["defects"])

    def _fitted_product(self) -> str:
        """The product name the prompts use; generation needs it (``fit`` sets it)."""
        if self.product is None:
            raise ValueError(
                "this synthesizer has no product name; call fit(...) first or pass "
                "product=... to DefectSynthesizer(...)."
            )
        return self.product

    def fingerprint(self) -> str:
        """Short hash of the trained weights (``augment.models.fingerprint``: cheap on full-size models)."""
        b = self.backbone
        return model_fingerprint((b.unet, b.text_encoder, b.text_encoder_2))

    # ---------------------------------------------------------------- fit
    def _split(
        self, data: str | Path | DatasetIndex | FewShotSplit, shots: int | None, seed: int
    ) -> FewShotSplit:
        if isinstance(data, FewShotSplit):
            return data
        index = data if isinstance(data, DatasetIndex) else index_folder(data)
        return make_split(index, shots=shots, seed=seed)

    def _check_product(self, products: Sequence[str]) -> str:
        if len(products) != 1:
            raise ValueError(
                f"fit one product at a time; the data holds {list(products)}. "
                "Point --data at one product's folder."
            )
        if self.product is not None and products[0] != self.product:
            raise ValueError(
                f"this synthesizer was fitted on product {self.product!r} but the data is "
                f"{products[0]!r}; fit a new synthesizer for {products[0]!r}."
            )
        return products[0]

    def _train_data(self, split: FewShotSplit, defects: Sequence[str]) -> TrainData:
        shots = [(*load_sample_arrays(s), s.defect) for s in split.shots if s.defect in defects]
        goods = [load_sample_arrays(s)[0] for s in split.good_train[:MAX_GOOD_IMAGES]]
        return TrainData(split.index.products[0], shots, goods)

    def fit(
        self,
        data: str | Path | DatasetIndex | FewShotSplit,
        defects: Sequence[str] | None = None,
        shots: int | None = None,
        steps: int = 600,
        resolution: int | None = None,
        seed: int = 0,
        resume: bool = False,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 100,
        batch_size: int = 8,
        lr: float = 1e-3,
        progress: bool = True,
        options: TrainOptions | dict[str, Any] | None = None,
        validation_dir: str | Path | None = None,
    ) -> list[float]:
        """Fine-tune on the few shots of each defect type (+ defect-free images); returns step losses.

        ``options``: mixed precision, gradient checkpointing, 8-bit Adam, Min-SNR weighting and
        validation sheets (``augment.synth.options.TrainOptions`` or its arguments as a dict);
        validation sheets go to ``validation_dir`` (required when ``validate_every`` > 0).
        """
        options = options if isinstance(options, TrainOptions) else TrainOptions(**(options or {}))
        if options.validate_every and validation_dir is None:
            raise ValueError(
                f"validate_every={options.validate_every} needs validation_dir= (where the contact "
                "sheets go); pass a folder or set validate_every=0."
            )
        if resolution is not None and resolution != self.config["resolution"]:
            raise ValueError(
                f"resolution {resolution} differs from the model's {self.config['resolution']}; "
                f"build DefectSynthesizer(resolution={resolution}) instead."
            )
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}.")
        split = self._split(data, shots, seed)
        product = self._check_product(split.index.products)
        available = sorted({s.defect for s in split.shots})
        chosen = list(defects) if defects else available
        unknown = sorted(set(chosen) - set(available))
        if unknown:
            raise ValueError(f"unknown defect type(s) {unknown}; the data has {available}.")
        token_ids = add_placeholder_tokens(
            self.backbone.tokenizer, self.backbone.text_encoder, [product, *chosen]
        )
        data_ = self._train_data(split, chosen)
        cfg = FitConfig(
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            resolution=self.config["resolution"],
            context=self.config["context"],
            seed=seed,
            checkpoint_every=checkpoint_every,
            options=options,
        )
        on_step = (
            self._validator(data_, options, Path(validation_dir), seed)
            if options.validate_every and validation_dir is not None
            else None
        )
        losses = train(self.backbone, data_, cfg, token_ids, checkpoint_dir, resume, progress, on_step)
        for image, mask, defect in data_.shots:
            self.shots.setdefault(defect, []).append((image, mask))
        self.config.update(
            product=product,
            defects=sorted(set(self.defects) | set(chosen)),
            good_images=[str(s.image) for s in split.good_train[:MAX_GOOD_IMAGES]],
        )
        return losses

    def _validator(
        self, data: TrainData, options: TrainOptions, folder: Path, seed: int
    ) -> Callable[[int], None]:
        """``on_step`` hook writing a validation contact sheet every ``validate_every`` steps."""
        res, ctx = self.config["resolution"], self.config["context"]

        def on_step(step: int) -> None:
            if step % options.validate_every == 0:
                write_validation_sheet(self.backbone, data, res, ctx, options, step, folder, seed)

        return on_step

    # ---------------------------------------------------------------- generate
    def _check_defect(self, defect: str | None) -> str:
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

    def _paint_spec(
        self, defect: str, steps: int, strength: float, guidance: float, refine: tuple[Backbone, float] | None
    ) -> PaintSpec:
        """What ``augment.synth.generate.paint`` needs for one generate / reproduce call."""
        cfg = SampleConfig(
            steps=steps,
            strength=strength,
            guidance=guidance,
            resolution=self.config["resolution"],
            context=self.config["context"],
        )
        return PaintSpec(self.backbone, self._fitted_product(), defect, cfg, refine)

    def generate(
        self,
        n: int,
        defect: str | None = None,
        images: Sequence[np.ndarray | str | Path] | np.ndarray | None = None,
        masks: Sequence[np.ndarray] | np.ndarray | None = None,
        strength: float = 1.0,
        guidance: float = 3.0,
        steps: int = 25,
        generator: SeedSource = None,
        mask_source: str = "real",
        quality_filter: bool = True,
        max_attempts: int | None = None,
        product: str | None = None,
        progress: bool = True,
        mode: str = "inpaint",
        w_product: float | None = None,
        refiner: str | Path | Backbone | None = None,
        refiner_strength: float = DEFAULT_REFINER_STRENGTH,
        mask_quality: bool = False,
        mask_rotation: float = DEFAULT_MAX_ROTATION,
    ) -> list[SyntheticPair]:
        """``n`` image + mask pairs with ``defect`` painted into defect-free images.

        ``mode="text2img"`` instead generates whole images from the prompt under double-free
        guidance (product scale ``w_product``, default ``guidance``; defect scale
        ``guidance * strength``) with masks from the defect token's cross-attention.

        ``images``: arrays or image paths (default: the defect-free images seen by ``fit``).
        ``masks=None`` samples masks from ``mask_source`` ('real': the fitted shots' masks moved,
        scaled, rotated within +-``mask_rotation`` degrees (default a 15 degree jitter: defects keep
        their orientation; 180 any angle) and deformed on the object; 'procedural:blob|scratch|crack'). The returned
        mask is the region that visibly changed. Rejected samples are counted in ``last_report``.
        ``refiner``: an SDXL refiner (hub id, folder or Backbone) run as a second stage at
        ``refiner_strength``, inside the mask only (``augment.synth.refiner``). ``mask_quality=True``
        (text2img) adds the masks' area / IoU statistics against the shot masks to ``last_report``.
        """
        check_generate_counts(n, strength, steps)
        if product is not None and self.product is not None and product != self.product:
            raise ValueError(
                f"this synthesizer was fitted on product {self.product!r}, not {product!r}; "
                f"fit one on {product!r} first."
            )
        defect = self._check_defect(defect)
        if mode not in ("inpaint", "text2img"):
            raise ValueError(f"mode must be 'inpaint' or 'text2img', got {mode!r}.")
        refine = None if refiner is None else self._refiner(refiner, refiner_strength)
        if mode == "text2img":
            if refine is not None:
                raise ValueError("refiner= applies to mode='inpaint' only; drop it for text2img.")
            w_p = guidance if w_product is None else w_product
            return self._text2img(
                int(n), defect, steps, (w_p, guidance * strength), generator, max_attempts, mask_quality
            )
        if mask_quality:
            raise ValueError("mask_quality= applies to mode='text2img' (its masks come from attention).")
        shots = self.shots.get(defect, [])
        shot_masks = [m for _, m in shots]
        plan = plan_sources(
            images, masks, mask_source, self.config["good_images"], shot_masks, mask_rotation, defect
        )
        spec = self._paint_spec(defect, steps, float(strength), float(guidance), refine)
        seeds, fingerprint = seed_stream(generator), self.fingerprint()
        self.last_report = {}
        use_filter, limit = quality_filter and strength > 0, max_attempts or 4 * n + 4
        return inpaint_pairs(
            spec, int(n), plan, seeds, shots, fingerprint, use_filter, limit, progress, self.last_report
        )

    def _refiner(self, refiner: str | Path | Backbone, strength: float) -> tuple[Backbone, float]:
        """(refiner backbone, strength), loading each refiner once per synthesizer."""
        strength = check_refiner_strength(strength)
        if isinstance(refiner, Backbone):
            self._refiners[refiner.source] = resolve_refiner(refiner)
            return self._refiners[refiner.source], strength
        if str(refiner) not in self._refiners:
            self._refiners[str(refiner)] = resolve_refiner(refiner)
        return self._refiners[str(refiner)], strength

    def _text2img(
        self,
        n: int,
        defect: str,
        steps: int,
        scales: tuple[float, float],
        generator: SeedSource,
        max_attempts: int | None,
        mask_quality: bool,
    ) -> list[SyntheticPair]:
        """Whole-image pairs (``augment.synth.generate.text2img_pairs``) at (product, defect)
        guidance ``scales``; ``mask_quality`` adds ``augment.synth.text2img.mask_quality`` to the report."""
        res, ctx = self.config["resolution"], self.config["context"]
        cfg = Text2ImgConfig(steps, res, *scales)
        seeds, fingerprint, product = seed_stream(generator), self.fingerprint(), self._fitted_product()
        self.last_report = {}
        limit = max_attempts or 4 * n + 4
        pairs = text2img_pairs(
            self.backbone, product, defect, n, cfg, seeds, fingerprint, limit, self.last_report
        )
        if mask_quality:
            shots = [m for _, m in self.shots.get(defect, [])]
            self.last_report["mask_quality"] = mask_stats([p.mask for p in pairs], shots, res, ctx)
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
        seed, defect = int(record["seed"]), self._check_defect(record["defect"])
        source = check_images([image])[0]
        if record["mask_source"] == "given":
            if mask is None:
                raise ValueError("this pair was made from a given mask; pass it as mask=.")
            mask = check_masks([mask], [source])[0]
        else:
            shot_masks = [m for _, m in self.shots.get(defect, [])]
            # records written before mask_rotation existed used full rotation
            rotation = float(record.get("mask_rotation", 180.0))
            sampler = MaskSampler.create(record["mask_source"], shot_masks, rotation, defect)
            mask = sampler(ForegroundCache([source])[0], np.random.default_rng(seed))
        refine = None
        if record.get("refiner") is not None:
            refine = self._refiner(record["refiner"], float(record["refiner_strength"]))
        steps, strength, guidance = int(record["steps"]), float(record["strength"]), float(record["guidance"])
        out, changed = paint(self._paint_spec(defect, steps, strength, guidance, refine), seed, source, mask)
        return SyntheticPair(out, changed, dict(record))

    # ---------------------------------------------------------------- save / load
    def save_pretrained(self, path: str | Path) -> Path:
        """Write config.json, one folder per component (safetensors) and the fitted shots."""
        extra = {
            "family": self.backbone.family,
            "source": self.backbone.source,
            "fingerprint": self.fingerprint(),
        }
        return save_folder(path, type(self).__name__, self.config | extra, self.backbone, self.shots)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> DefectSynthesizer:
        """Reload a synthesizer written by ``save_pretrained``."""
        config, backbone, shots = load_folder(path, cls.__name__)
        keys = ("resolution", "context", "channels", "seed", "product", "defects", "good_images")
        synth = cls(backbone, **{k: config[k] for k in keys})
        synth.shots = shots
        return synth
