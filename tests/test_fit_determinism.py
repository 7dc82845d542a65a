"""Same seed, same weights, with LoRA dropout on: whatever the global torch seed, and across a resume.

LoRA dropout (default 0.1) draws from torch's global generator; the fit seeds it from its own seed,
checkpoints it and gives the caller's back afterwards (``augment.synth.checkpoint``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from augment.models.pretrained import load_backbone
from augment.synth.synthesizer import DefectSynthesizer
from tests.tiny_components import Kind, saved_tiny_pipeline

KW = {"defects": ["spot"], "batch_size": 1, "progress": False, "prior_steps": 0}


def _synth(kind: Kind, device: str = "cpu") -> DefectSynthesizer:
    return DefectSynthesizer(backbone=load_backbone(str(saved_tiny_pipeline(kind))), resolution=16).to(device)


def _lora(synth: DefectSynthesizer) -> dict[str, torch.Tensor]:
    unet = synth.backbone.unet
    return {k: v.detach().cpu().clone() for k, v in unet.state_dict().items() if "lora_" in k}


def _same(a: DefectSynthesizer, b: DefectSynthesizer) -> None:
    wa, wb = _lora(a), _lora(b)
    assert wa
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=0)
    assert a.fingerprint() == b.fingerprint()


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_same_seed_gives_same_weights_under_any_global_seed(kind: Kind, tiny_pills: Path) -> None:
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        synth = _synth(kind)
        synth.fit(tiny_pills, steps=2, seed=0, **KW)
        runs.append(synth)
    assert synth.backbone.unet.peft_config["default"].lora_dropout > 0
    _same(*runs)


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_resumed_fit_equals_uninterrupted_fit(kind: Kind, tiny_pills: Path, tmp_path: Path) -> None:
    whole = _synth(kind)
    whole.fit(tiny_pills, steps=4, checkpoint_dir=tmp_path / "whole", checkpoint_every=2, **KW)
    _synth(kind).fit(tiny_pills, steps=2, checkpoint_dir=tmp_path / "cut", checkpoint_every=2, **KW)
    torch.manual_seed(123)  # a new process's global state: resume must not depend on it
    resumed = _synth(kind)
    resumed.fit(tiny_pills, steps=4, checkpoint_dir=tmp_path / "cut", checkpoint_every=2, resume=True, **KW)
    _same(whole, resumed)


def test_fit_leaves_the_callers_random_stream_alone(tiny_pills: Path) -> None:
    synth = _synth("sd")
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    synth.fit(tiny_pills, steps=1, **KW)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)


def test_checkpoint_keeps_only_the_trained_weights(tiny_pills: Path, tmp_path: Path) -> None:
    synth = _synth("sd")
    synth.fit(tiny_pills, steps=1, checkpoint_dir=tmp_path, **KW)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    unet = state["trainable"]["unet"]
    assert unet
    assert all("lora_" in key for key in unet)
    assert list(state["trainable"]["text_encoder"]) == ["embeddings.token_embedding.weight"]
    assert set(state["global_rng"]) >= {"cpu"}


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_resume_on_cuda_in_fp16_restores_every_state(kind: Kind, tiny_pills: Path, tmp_path: Path) -> None:
    """The same code on a GPU: CUDA's global generator and fp16's grad scaler are checkpointed too.

    GPU kernels (cuDNN, attention backward) are not bitwise deterministic, so the weights are
    compared loosely; the random states and the scaler, which a lost state would change, exactly.
    """
    kw = KW | {"checkpoint_every": 2, "dtype": "fp16"}
    whole = _synth(kind, "cuda")
    whole.fit(tiny_pills, steps=4, checkpoint_dir=tmp_path / "whole", **kw)
    _synth(kind, "cuda").fit(tiny_pills, steps=2, checkpoint_dir=tmp_path / "cut", **kw)
    resumed = _synth(kind, "cuda")
    resumed.fit(tiny_pills, steps=4, checkpoint_dir=tmp_path / "cut", resume=True, **kw)
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=False) for d in ("whole", "cut"))
    assert a["scaler"] is not None
    assert a["scaler"] == b["scaler"]
    assert a["numpy_rng"] == b["numpy_rng"]
    for key in ("cpu", "cuda"):
        assert torch.equal(a["global_rng"][key], b["global_rng"][key])
    assert torch.equal(a["torch_rng"], b["torch_rng"])
    for key, value in _lora(whole).items():
        torch.testing.assert_close(_lora(resumed)[key], value, rtol=0, atol=1e-3)
