"""Training options: Min-SNR weights, precision / optimizer checks, checkpointing, validation sheets."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from augment.cli import main
from augment.models.lora import LoraSettings
from augment.models.pretrained import load_backbone
from augment.models.tokens import add_placeholder_tokens, prompt_for
from augment.synth.batches import Batch
from augment.synth.fit import prepare_trainable
from augment.synth.losses import diffusion_loss, min_snr_weight, scheduler_snr
from augment.synth.options import TrainOptions, make_optimizer
from augment.synth.precision import attention_kernel
from augment.synth.synthesizer import DefectSynthesizer
from tests.tiny_components import saved_tiny_pipeline

TINY = {"resolution": 16, "channels": (8, 16, 16)}
FIT = {"defects": ["spot"], "steps": 2, "batch_size": 2, "progress": False}
SNR = torch.tensor([0.5, 5.0, 20.0])


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("epsilon", [1.0, 1.0, 5.0 / 20.0]),  # min(SNR, g) / SNR
        ("v_prediction", [0.5 / 1.5, 5.0 / 6.0, 5.0 / 21.0]),  # min(SNR, g) / (SNR + 1)
        ("sample", [0.5, 5.0, 5.0]),  # min(SNR, g)
    ],
)
def test_min_snr_weight_follows_the_paper(prediction: str, expected: list[float]) -> None:
    torch.testing.assert_close(min_snr_weight(SNR, 5.0, prediction), torch.tensor(expected))


def test_min_snr_weight_rejects_unknown_prediction_type() -> None:
    with pytest.raises(ValueError, match=r"prediction types 'epsilon'.*got 'flow'"):
        min_snr_weight(SNR, 5.0, "flow")


def test_scheduler_snr_is_alpha_bar_over_one_minus() -> None:
    sched = SimpleNamespace(alphas_cumprod=torch.tensor([0.9, 0.5, 0.2]))
    torch.testing.assert_close(scheduler_snr(sched, torch.tensor([0, 2])), torch.tensor([9.0, 0.25]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mixed_precision": "fp8"}, "mixed_precision must be one of"),
        ({"min_snr_gamma": 0.0}, "min_snr_gamma must be > 0"),
        ({"validate_every": -1}, "validate_every must be >= 0"),
    ],
)
def test_bad_options_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainOptions(**kwargs)


def test_fp16_on_cpu_says_it_needs_cuda(tiny_pills: Path) -> None:
    with pytest.raises(ValueError, match=r"fp16' needs a CUDA GPU.*bf16"):
        DefectSynthesizer(**TINY).fit(tiny_pills, **FIT, options={"mixed_precision": "fp16"})


def test_validation_needs_a_folder(tiny_pills: Path) -> None:
    with pytest.raises(ValueError, match="needs validation_dir"):
        DefectSynthesizer(**TINY).fit(tiny_pills, **FIT, options={"validate_every": 1})


def test_adam_8bit_without_bitsandbytes_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import raises ImportError
    with pytest.raises(ValueError, match=r"needs bitsandbytes.*pip install bitsandbytes"):
        make_optimizer([{"params": [torch.zeros(1, requires_grad=True)]}], 1e-3, TrainOptions(adam_8bit=True))


def test_adam_8bit_uses_bitsandbytes_when_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = SimpleNamespace(optim=SimpleNamespace(AdamW8bit=torch.optim.SGD))
    monkeypatch.setitem(sys.modules, "bitsandbytes", fake)
    opt = make_optimizer(
        [{"params": [torch.zeros(1, requires_grad=True)]}], 1e-3, TrainOptions(adam_8bit=True)
    )
    assert isinstance(opt, torch.optim.SGD)


def _loss_and_grads(checkpointing: bool) -> tuple[float, dict[str, torch.Tensor]]:
    """Attention-weighted loss + backward on a tiny SD UNet with LoRA (no dropout)."""
    backbone = load_backbone(str(saved_tiny_pipeline("sd")))
    torch.manual_seed(0)
    ids = add_placeholder_tokens(backbone.tokenizer, backbone.text_encoder, ["pill", "spot"])
    prepare_trainable(backbone, ids, LoraSettings(dropout=0.0))
    if checkpointing:
        backbone.unet.enable_gradient_checkpointing()
    backbone.unet.train()
    mask = torch.zeros(2, 1, 16, 16)
    mask[..., 4:10, 4:10] = 1
    pixels = torch.linspace(-1, 1, 2 * 3 * 16 * 16).reshape(2, 3, 16, 16)
    batch = Batch(pixels, mask, [prompt_for("pill", "spot")] * 2, ["spot", "spot"])
    with ExitStack() as hooks:
        loss = diffusion_loss(backbone, batch, torch.Generator().manual_seed(0), True, hooks)
        loss.backward()
    grads = {n: p.grad.clone() for n, p in backbone.unet.named_parameters() if p.grad is not None}
    return loss.item(), grads


def test_gradient_checkpointing_keeps_attention_weighted_loss_and_gradients() -> None:
    plain_loss, plain = _loss_and_grads(False)
    ckpt_loss, ckpt = _loss_and_grads(True)
    assert ckpt_loss == pytest.approx(plain_loss, rel=1e-6)
    assert plain
    assert plain.keys() == ckpt.keys()
    for name in plain:
        torch.testing.assert_close(ckpt[name], plain[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("options", [{"mixed_precision": "bf16"}, {"min_snr_gamma": 5.0}])
def test_option_changes_the_losses(tiny_pills: Path, options: dict) -> None:
    base = DefectSynthesizer(**TINY).fit(tiny_pills, **FIT)
    other = DefectSynthesizer(**TINY).fit(tiny_pills, **FIT, options=options)
    assert all(torch.isfinite(torch.tensor(other)))
    assert other != base


@pytest.mark.parametrize(
    ("device", "precision", "flash"), [("cpu", "bf16", False), ("cpu", "no", True), ("cuda", "bf16", True)]
)
def test_only_cpu_bf16_fits_leave_the_flash_attention_kernel(
    device: str, precision: str, flash: bool
) -> None:
    with attention_kernel(torch.device(device), precision):
        assert torch.backends.cuda.flash_sdp_enabled() is flash
        assert torch.backends.cuda.math_sdp_enabled()
    assert torch.backends.cuda.flash_sdp_enabled()


def test_fit_command_writes_validation_sheets(tiny_pills: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    argv = ["fit", "--data", str(tiny_pills), "--out", str(out), "--defect", "spot", "--steps", "2",
            "--batch-size", "2", "--resolution", "16", "--validate-every", "1",
            "--mixed-precision", "bf16", "--min-snr-gamma", "--gradient-checkpointing"]  # fmt: skip
    assert main(argv) == 0
    assert sorted(p.name for p in (out / "validation").iterdir()) == ["step_000001.png", "step_000002.png"]
