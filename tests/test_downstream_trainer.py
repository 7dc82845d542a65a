"""The smp trainer: it learns on a toy task, is deterministic with a seed, and validates its config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from augment.data.resize import resize_mask
from downstream.data import Item, SegmentationSet, target_size, train_augmentation
from downstream.trainer import TrainConfig, Trainer, build_loss, build_model, predict, sampling_weights

TINY = {"encoder": "tu-resnet10t", "encoder_depth": 3, "decoder_channels": [16, 8, 8]}


def _toy_items(n: int = 8, size: int = 32) -> list[Item]:
    """Dark noise with a bright square defect in half of the images."""
    rng = np.random.default_rng(0)
    items = []
    for k in range(n):
        image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        mask = np.zeros((size, size), np.uint8)
        if k % 2 == 0:
            y, x = rng.integers(0, size - 10, 2)
            mask[y : y + 10, x : x + 10] = 1
            image[mask > 0] = 220
        items.append(Item(image, mask, "spot" if k % 2 == 0 else "good", "real"))
    return items


def _train(seed: int, steps: int = 30) -> tuple[list[float], torch.nn.Module]:
    model = build_model(seed=seed, **TINY)
    config = TrainConfig(steps=steps, batch_size=4, lr=3e-3, seed=seed, progress=False)
    losses = Trainer(model, SegmentationSet(_toy_items(), train_augmentation(seed)), config).run()
    return losses, model


def test_training_reduces_the_loss() -> None:
    losses, _ = _train(seed=0)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_same_seed_gives_the_same_run() -> None:
    (losses_a, model_a), (losses_b, model_b) = _train(seed=1, steps=4), _train(seed=1, steps=4)
    assert losses_a == losses_b
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_different_seeds_give_different_runs() -> None:
    assert _train(seed=1, steps=3)[0] != _train(seed=2, steps=3)[0]


def test_predict_returns_probabilities_per_pixel() -> None:
    model = build_model(**TINY)
    images = np.stack([it.image for it in _toy_items(3)])
    probs = predict(model, images, batch_size=2)
    assert probs.shape == (3, 32, 32)
    assert probs.min() >= 0
    assert probs.max() <= 1


def test_sampling_weights_balance_defect_and_good_items() -> None:
    weights = sampling_weights([True, False, False, False], defect_fraction=0.5)
    assert weights[0] == pytest.approx(weights[1:].sum())


@pytest.mark.parametrize("share", [0.0, 0.3, 0.5, 1.0])
def test_sampling_weights_without_extra_items_ignore_the_share(share: float) -> None:
    flags = [True, False, True, False, False]
    old = sampling_weights(flags, defect_fraction=0.4)
    assert torch.equal(sampling_weights(flags, 0.4, [False] * 5, real_defect_share=share), old)


@pytest.mark.parametrize("share", [0.25, 0.5, 0.8])
def test_sampling_weights_keep_the_real_defect_share(share: float) -> None:
    is_defect = [True, True, True, True, True, False, False]
    is_extra = [False, True, True, True, True, False, False]
    w = sampling_weights(is_defect, 0.6, is_extra, real_defect_share=share)
    assert float(w.sum()) == pytest.approx(1.0)
    assert float(w[0]) == pytest.approx(0.6 * share)
    assert float(w[1:5].sum()) == pytest.approx(0.6 * (1 - share))
    assert torch.allclose(w[1:5], w[1].expand(4))
    assert float(w[5:].sum()) == pytest.approx(0.4)


def test_sampling_weights_reject_a_share_outside_0_1() -> None:
    with pytest.raises(ValueError, match="real_defect_share must lie in"):
        sampling_weights([True, False], 0.5, [False, False], real_defect_share=1.5)


def test_sampling_weights_reject_mismatched_extra_flags() -> None:
    with pytest.raises(ValueError, match="is_extra needs one flag per item"):
        sampling_weights([True, False], 0.5, [False])


def test_segmentation_set_reports_extra_items() -> None:
    items = _toy_items(4)
    items[0].extra = True
    assert SegmentationSet(items).is_extra() == [True, False, False, False]


def test_callback_sees_every_step() -> None:
    seen: list[int] = []
    trainer = Trainer(
        build_model(**TINY), SegmentationSet(_toy_items()), TrainConfig(steps=3, batch_size=2, progress=False)
    )
    trainer.add_callback("on_batch_end", lambda t: seen.append(t.step))
    trainer.run()
    assert seen == [1, 2, 3]


def test_target_size_keeps_aspect_in_multiples_of_32() -> None:
    assert target_size((630, 250), 320) == (320, 128)


def test_resize_mask_keeps_thin_defects() -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 31] = 1
    assert resize_mask(mask, (16, 16)).any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "steps and batch_size"),
        ({"defect_fraction": 1.5}, "defect_fraction"),
        ({"loss": "hinge"}, "loss must be one of"),
    ],
)
def test_bad_train_config_is_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_unknown_encoder_is_refused() -> None:
    with pytest.raises(ValueError, match="get_encoder_names"):
        build_model(encoder="no-such-encoder")


def test_unknown_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="loss must be one of"):
        build_loss("l2")


def test_items_of_different_sizes_are_refused() -> None:
    items = _toy_items(2)
    items[1] = Item(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16), np.uint8), "good", "real")
    with pytest.raises(ValueError, match="share one size"):
        SegmentationSet(items)


@pytest.mark.parametrize("steps", [1, 10, 11])
def test_short_runs_train(steps: int) -> None:
    assert len(_train(seed=0, steps=steps)[0]) == steps
