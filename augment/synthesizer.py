"""``DefectSynthesizer``: learn each defect type from a few shots, paint new ones into good images.

Configuration is the constructor signature; ``save_pretrained`` writes it as ``config.json`` next to
each component's own folder (``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/`` and, for
latent backbones, ``vae/``; weights as safetensors) plus the fitted shots (``shots.safetensors``)
that drive the real-mask source and the near-duplicate check. ``from_pretrained`` reloads an
identical synthesizer: same seed, same pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from augment.backbone import Backbone
from augment.fingerprint import model_fingerprint
from augment.generation import (
    ForegroundCache,
    MaskSampler,
    SeedSource,
    check_images,
    check_masks,
    parse_mask_source,
    seed_stream,
)
from augment.imageio import DataError, read_image
from augment.index import DatasetIndex, index_folder, load_sample_arrays
from augment.masks import RealMaskBank
from augment.pairs import SyntheticPair
from augment.quality import QualityFilter, changed_region
from augment.refiner import DEFAULT_REFINER_STRENGTH, check_refiner_strength, refine_in_mask, resolve_refiner
from augment.sampling import SampleConfig, inpaint
from augment.split import FewShotSplit, make_split
from augment.synth_io import load_folder, save_folder
from augment.tokens import add_placeholder_tokens, prompt_for
from augment.train_options import TrainOptions, write_validation_sheet
from augment.training import TrainConfig, TrainData, train

logger = logging.getLogger(__name__)
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
            from augment.embedded import build_embedded_backbone

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
        """Short hash of the trained weights (``augment.fingerprint``: cheap on full-size models)."""
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
        validation sheets (``augment.train_options.TrainOptions`` or its arguments as a dict);
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
        cfg = TrainConfig(
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

    def _sources(
        self, images: Sequence[np.ndarray | str | Path] | np.ndarray | None
    ) -> tuple[list[np.ndarray], list[str]]:
        if images is not None:
            listed = [images] if isinstance(images, (np.ndarray, str, Path)) else list(images)
            names = [str(x) if isinstance(x, (str, Path)) else f"array[{i}]" for i, x in enumerate(listed)]
            return check_images([read_image(x) if isinstance(x, (str, Path)) else x for x in listed]), names
        paths = self.config["good_images"]
        missing = [p for p in paths if not Path(p).is_file()]
        if not paths or missing:
            raise DataError(
                f"the fitted defect-free images are not available ({len(missing)} of {len(paths)} "
                "missing); pass images=[...] (or --data DIR on the command line)."
            )
        return [read_image(p) for p in paths], list(paths)

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
    ) -> list[SyntheticPair]:
        """``n`` image + mask pairs with ``defect`` painted into defect-free images.

        ``mode="text2img"`` instead generates whole images from the prompt under double-free
        guidance (product scale ``w_product``, default ``guidance``; defect scale
        ``guidance * strength``) with masks from the defect token's cross-attention.

        ``images``: arrays or image paths (default: the defect-free images seen by ``fit``).
        ``masks=None`` samples masks from ``mask_source`` ('real': the fitted shots' masks moved,
        scaled, rotated and deformed on the object; 'procedural:blob|scratch|crack'). The returned
        mask is the region that visibly changed. Rejected samples are counted in ``last_report``.
        ``refiner``: an SDXL refiner (hub id, folder or Backbone) run as a second stage at
        ``refiner_strength``, inside the mask only (``augment.refiner``). ``mask_quality=True``
        (text2img) adds the masks' area / IoU statistics against the shot masks to ``last_report``.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}.")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1] (0 returns the source image), got {strength}.")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}.")
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
            pairs = self._text2img(int(n), defect, steps, w_p, guidance * strength, generator, max_attempts)
            if mask_quality:
                self.last_report["mask_quality"] = self._mask_quality(pairs, defect)
            return pairs
        if mask_quality:
            raise ValueError("mask_quality= applies to mode='text2img' (its masks come from attention).")
        sources, names = self._sources(images)
        given = check_masks(masks, sources) if masks is not None else None
        sampler = MaskSampler(parse_mask_source(mask_source), None)
        if given is None and sampler.source == "real":
            sampler.bank = RealMaskBank([m for _, m in self.shots.get(defect, [])] or [np.ones((1, 1))])
        cfg = SampleConfig(
            steps=steps,
            strength=float(strength),
            guidance=float(guidance),
            resolution=self.config["resolution"],
            context=self.config["context"],
        )
        return self._generate_loop(
            int(n),
            defect,
            sources,
            names,
            given,
            sampler,
            cfg,
            seed_stream(generator),
            quality_filter and strength > 0,
            max_attempts or 4 * n + 4,
            progress,
            refine,
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

    def _mask_quality(self, pairs: list[SyntheticPair], defect: str) -> dict[str, float]:
        """Text2img masks vs the fitted shots' masks (``augment.text2img.mask_quality``)."""
        from augment.text2img import mask_quality

        shots = [m for _, m in self.shots.get(defect, [])]
        return mask_quality([p.mask for p in pairs], shots, self.config["resolution"], self.config["context"])

    def _text2img(
        self,
        n: int,
        defect: str,
        steps: int,
        w_product: float,
        w_defect: float,
        generator: SeedSource,
        max_attempts: int | None,
    ) -> list[SyntheticPair]:
        """Whole-image pairs (``augment.text2img``); a pair whose attention mask is empty is redrawn."""
        from augment.text2img import Text2ImgConfig, text_to_image

        cfg = Text2ImgConfig(steps, self.config["resolution"], w_product, w_defect)
        seeds, fingerprint, product = seed_stream(generator), self.fingerprint(), self._fitted_product()
        pairs: list[SyntheticPair] = []
        attempts = 0
        while len(pairs) < n and attempts < (max_attempts or 4 * n + 4):
            attempts += 1
            seed = int(seeds.integers(0, 2**31 - 1))
            pair = text_to_image(self.backbone, product, defect, 1, cfg, seed)[0]
            if pair.mask.any():
                pair.record["model_fingerprint"] = fingerprint
                pairs.append(pair)
        self.last_report = {"accepted": len(pairs), "rejected": attempts - len(pairs), "attempts": attempts}
        if len(pairs) < n:
            raise RuntimeError(
                f"only {len(pairs)} of {n} text2img {defect} pairs had a non-empty attention mask in "
                f"{attempts} attempts; fit longer or raise the guidance."
            )
        return pairs

    def _generate_loop(
        self,
        n: int,
        defect: str,
        sources: list[np.ndarray],
        names: list[str],
        given: list[np.ndarray] | None,
        sampler: MaskSampler,
        cfg: SampleConfig,
        seeds: np.random.Generator,
        use_filter: bool,
        max_attempts: int,
        progress: bool,
        refine: tuple[Backbone, float] | None = None,
    ) -> list[SyntheticPair]:
        product = self._fitted_product()
        prompt, negative = prompt_for(product, defect), prompt_for(product, None)
        fg, filt, fingerprint = ForegroundCache(sources), QualityFilter(), self.fingerprint()
        shots = self.shots.get(defect, [])
        pairs: list[SyntheticPair] = []
        bar = tqdm(total=n, desc=f"generate {defect}", disable=not progress)
        attempt = 0
        while len(pairs) < n and attempt < max_attempts:
            k = attempt % len(sources) if given is not None else int(seeds.integers(len(sources)))
            seed = int(seeds.integers(0, 2**31 - 1))
            attempt += 1
            source = sources[k]
            mask = given[k] if given is not None else sampler(fg[k], np.random.default_rng(seed))
            out, changed = self._paint(seed, source, mask, defect, cfg, refine)
            if use_filter and not filt.check(source, out, changed, fg[k], shots)[0]:
                continue
            record = {
                "seed": seed,
                "prompt": prompt,
                "negative_prompt": negative,
                "defect": defect,
                "product": product,
                "strength": cfg.strength,
                "guidance": cfg.guidance,
                "steps": cfg.steps,
                "resolution": cfg.resolution,
                "source_image": names[k],
                "mask_source": "given" if given is not None else sampler.source,
                "input_mask_area": int(mask.sum()),
                "model_fingerprint": fingerprint,
            }
            if refine is not None:
                record |= {"refiner": refine[0].source, "refiner_strength": refine[1]}
            pairs.append(SyntheticPair(out, changed, record))
            bar.update(1)
        bar.close()
        self.last_report = filt.summary() | {
            "accepted": len(pairs),
            "attempts": attempt,
            "filtered": int(use_filter),
        }
        logger.info(
            "generate %s: %d accepted, %d rejected %s",
            defect,
            len(pairs),
            self.last_report["rejected"],
            {k: v for k, v in filt.counts.items() if v},
        )
        if len(pairs) < n:
            raise RuntimeError(
                f"only {len(pairs)} of {n} {defect} pairs passed the quality filter in "
                f"{attempt} attempts (rejected: {dict(filt.counts)}); fit longer, raise strength "
                "or guidance, or pass quality_filter=False."
            )
        return pairs

    def _paint(
        self,
        seed: int,
        source: np.ndarray,
        mask: np.ndarray,
        defect: str,
        cfg: SampleConfig,
        refine: tuple[Backbone, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One inpainting run (+ optional refiner pass) from a pair seed: (image, changed-region mask)."""
        product = self._fitted_product()
        prompt, negative = prompt_for(product, defect), prompt_for(product, None)
        gen = torch.Generator().manual_seed(seed)
        out = inpaint(self.backbone, source, mask, prompt, negative, cfg, gen)
        if refine is not None:
            out = refine_in_mask(refine[0], out, mask, product, defect, refine[1], cfg, gen)
        return out, changed_region(source, out, mask)

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
            bank = RealMaskBank([m for _, m in self.shots.get(defect, [])] or [np.ones((1, 1))])
            sampler = MaskSampler(parse_mask_source(record["mask_source"]), bank)
            mask = sampler(ForegroundCache([source])[0], np.random.default_rng(seed))
        cfg = SampleConfig(
            steps=int(record["steps"]),
            strength=float(record["strength"]),
            guidance=float(record["guidance"]),
            resolution=self.config["resolution"],
            context=self.config["context"],
        )
        refine = None
        if record.get("refiner") is not None:
            refine = self._refiner(record["refiner"], float(record["refiner_strength"]))
        out, changed = self._paint(seed, source, mask, defect, cfg, refine)
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
