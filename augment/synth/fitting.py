"""``DefectSynthesizer.fit``: fine-tune on the few shots of each defect type (+ defect-free images).

A mixin of ``DefectSynthesizer`` (``augment.synth.synthesizer``): it reads and updates the
synthesizer's backbone, configuration, fitted state and shots, and runs the fit loop
(``augment.synth.fit``) on the data the split gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augment.devices import resolve_device
from augment.files import REFINER
from augment.models.backbone import Backbone
from augment.models.classes import add_class_embeddings
from augment.models.fingerprint import WeightsFingerprint
from augment.models.lora import LoraSettings
from augment.models.tokens import add_placeholder_tokens, placeholder
from augment.synth.batches import good_images_of, is_grayscale, load_train_data, shots_of
from augment.synth.config import FittedState, SynthConfig
from augment.synth.fit import Data, check_fit_args, check_lora, fit_defects, fit_products, fit_split, train
from augment.synth.options import FitConfig, TrainOptions, check_loop_numbers
from augment.synth.precision import fit_precision
from augment.synth.refiner import fit_refiner, resolve_refiner
from augment.synth.resume import begin_run, run_identity
from augment.synth.validation import validation_hook

__all__ = ["Fitting"]


class Fitting:
    """The ``fit`` method of ``DefectSynthesizer`` and the state it works on."""

    backbone: Backbone
    fitted_refiner: Backbone | None
    config: SynthConfig
    fitted: FittedState
    shots: dict[str, list[tuple[np.ndarray, np.ndarray]]]
    _fingerprint: WeightsFingerprint

    def fit(
        self,
        data: Data,
        defects: Sequence[str] | None = None,
        shots: int | None = None,
        steps: int = 1000,
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
        lora: LoraSettings | None = None,
        skip_invalid: bool = False,
        prior_steps: int = FitConfig.prior_steps,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        class_embeddings: bool = False,
        refiner: str | Path | Backbone | None = None,
    ) -> list[float]:
        """Fine-tune on the few shots of each defect type (+ defect-free images); returns step losses.

        Data holding several products (an MVTec root) fits them all in one model: one token per
        product and one per defect type, each window prompted with its own product, so a defect
        learned on one product can be painted on another (``generate(product=...)``).
        Under ``accelerate launch`` every process runs ``fit`` on the same arguments and they train
        one model together (``augment.synth.ranks``); save it from the first process only.

        ``options``: mixed precision, gradient accumulation and checkpointing, 8-bit Adam, Min-SNR
        weighting and validation sheets (``augment.synth.options.TrainOptions`` or its arguments as
        a dict); validation sheets go to ``validation_dir`` (required when ``validate_every`` > 0).
        ``lora``: rank, alpha, dropout and targets of the adapters a pretrained backbone trains
        (default ``LoraSettings()``); the embedded default trains its whole UNet and takes none.
        ``skip_invalid``: index a dataset folder without its invalid files (``index_folder``).
        ``resume=True`` must continue the same run (``augment.synth.resume``).
        ``prior_steps``: the first steps (at most a quarter) see defect-free windows only.
        ``device``: where to train (default: where the models are); ``dtype``: the forward passes'
        precision (``augment.synth.precision``; default: the backbone's own; "auto": bf16 where the
        device computes it natively, as ``defect-synth fit`` does by default).
        ``class_embeddings``: also condition the UNet on a learned class embedding per defect type,
        trained with the rest (``augment.models.classes``; kept once a synthesizer has them).
        ``refiner``: an SDXL refiner (hub id, folder or Backbone) fitted after the base in the same
        call, its own LoRA and tokens on the same windows (``augment.synth.refiner.fit_refiner``);
        generation then uses it as its second stage by default. The losses returned are the base's.
        """
        options = options if isinstance(options, TrainOptions) else TrainOptions(**(options or {}))
        if device is not None:
            self.backbone.to(resolve_device(device))
        options = fit_precision(dtype, options, self.backbone)
        check_fit_args(steps, resolution, self.config.resolution, options, validation_dir)
        check_loop_numbers(steps, batch_size, lr, checkpoint_every)
        check_lora(lora, self.backbone)
        split = fit_split(data, shots, seed, skip_invalid)
        products = fit_products(split.index.products, self.fitted.products)
        chosen = fit_defects(split, defects)
        token_ids = add_placeholder_tokens(*self.backbone.text_pairs[0], [*products, *chosen])
        if class_embeddings or self.backbone.class_tokens:
            add_class_embeddings(self.backbone, [placeholder(d) for d in chosen])
        goods = good_images_of(split)
        train_data = load_train_data(split, chosen, goods)
        cfg = FitConfig(
            steps, batch_size, lr, resolution=self.config.resolution, seed=seed,
            checkpoint_every=checkpoint_every, options=options, prior_steps=prior_steps,
        )  # fmt: skip
        run = run_identity(split, chosen, cfg, self.backbone)
        if self.backbone.class_tokens:
            run["class tokens"] = dict(self.backbone.class_tokens)
        begin_run(checkpoint_dir, run, resume)
        on_step = validation_hook(
            self.backbone, train_data, self.config.resolution, options, validation_dir, seed
        )
        stage = None if refiner is None else resolve_refiner(refiner).to(self.backbone.device)
        losses = train(
            self.backbone, train_data, cfg, token_ids, checkpoint_dir, resume, progress, on_step, lora
        )
        if stage is not None:
            folder = None if checkpoint_dir is None else Path(checkpoint_dir) / REFINER
            fit_refiner(stage, train_data, cfg, [*products, *chosen], run, folder, resume, progress, lora)
            self.fitted_refiner = stage
        self._fingerprint.forget()  # fused optimizer steps change weights without bumping their versions
        for image, mask, defect in train_data.shots:
            self.shots.setdefault(defect, []).append((image, mask))
        known = tuple(sorted(set(self.fitted.defects) | set(chosen)))
        gray = is_grayscale(train_data) and (self.fitted.grayscale or not self.fitted.defects)
        goods_seen, good_products = tuple(str(s.image) for s in goods), tuple(s.product for s in goods)
        product = self.fitted.product or products[0]
        shots_seen = tuple(
            dict.fromkeys((*self.fitted.shot_images, *(str(s.image) for s in shots_of(split, chosen))))
        )
        self.fitted = FittedState(
            product, known, goods_seen, gray, split.index.bit_depth, tuple(dict.fromkeys((*self.fitted.products, *products))), good_products, shots_seen
        )  # fmt: skip
        return losses
