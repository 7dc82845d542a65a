"""--device / --dtype: one resolution rule (torch's CUDA queries monkeypatched: no GPU needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from augment import devices
from augment.cli import build_parser, main
from augment.devices import resolve_device, resolve_dtype
from augment.loaders.export import export_dataset
from augment.synth.options import TrainOptions
from augment.synth.precision import fit_precision, settled_dtype
from augment.synth.synthesizer import DefectSynthesizer

TINY = {"resolution": 16, "channels": (8, 16, 16)}
FIT = ["--defect", "spot", "--steps", "1", "--batch-size", "1", "--resolution", "16"]


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch):
    """Pretend torch sees ``n`` GPUs."""

    def pretend(n: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return pretend


@pytest.mark.parametrize(
    ("spec", "n", "local_rank", "expected"),
    [
        ("auto", 0, None, "cpu"),
        (None, 0, None, "cpu"),
        ("auto", 2, None, "cuda:0"),
        ("auto", 2, "1", "cuda:1"),  # under accelerate launch: this process's GPU
        ("cpu", 2, None, "cpu"),
        ("cuda", 1, None, "cuda:0"),
        ("cuda:1", 2, None, "cuda:1"),
        (" CUDA:0 ", 1, None, "cuda:0"),
    ],
)
def test_device_is_resolved(
    gpus, monkeypatch: pytest.MonkeyPatch, spec: str | None, n: int, local_rank: str | None, expected: str
) -> None:
    gpus(n)
    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    assert resolve_device(spec) == torch.device(expected)


@pytest.mark.parametrize(
    ("spec", "n", "match"),
    [
        ("cuda", 0, "asks for a GPU, but torch sees none"),
        ("cuda:0", 0, "asks for a GPU, but torch sees none"),
        ("cuda:2", 2, "torch sees 2 GPU"),
        ("tpu", 1, "auto, cpu, cuda or cuda:N, got 'tpu'"),
        ("cpu:1", 1, "auto, cpu, cuda or cuda:N"),
    ],
)
def test_bad_device_is_refused(gpus, spec: str, n: int, match: str) -> None:
    gpus(n)
    with pytest.raises(ValueError, match=match):
        resolve_device(spec)


@pytest.mark.parametrize(
    ("name", "device", "expected"),
    [(None, "cpu", torch.float32), ("fp32", "cpu", torch.float32), ("bf16", "cpu", torch.bfloat16),
     ("fp16", "cuda:0", torch.float16), (torch.bfloat16, "cpu", torch.bfloat16)],
)  # fmt: skip
def test_dtype_is_resolved(name: str | None, device: str, expected: torch.dtype) -> None:
    assert resolve_dtype(name, device) == expected


@pytest.mark.parametrize(
    ("name", "match"),
    [("fp16", r"'fp16' needs a CUDA GPU.*use dtype='bf16'"), ("fp8", "one of auto, fp32, bf16, fp16")],
)
def test_bad_dtype_is_refused(name: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_dtype(name, "cpu")


def test_synthesizer_casts_and_still_paints(tiny_pills: Path) -> None:
    synth = DefectSynthesizer(**TINY).to(dtype="bf16")
    assert synth.backbone.dtype == torch.bfloat16
    synth.fit(tiny_pills, defects=["spot"], steps=1, batch_size=1, progress=False)
    assert synth.backbone.dtype == torch.bfloat16  # the fit trained in float32 and gave bf16 back
    pair = synth.generate(1, defect="spot", steps=2, quality_filter=False, progress=False, generator=0)[0]
    assert pair.image.dtype == np.uint8


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--device", "cuda"], r"--device 'cuda' asks for a GPU.*use --device 'cpu'"),
        (["--dtype", "fp16", "--device", "cpu"], r"--dtype 'fp16' needs a CUDA GPU.*use --dtype 'bf16'"),
        (
            ["--dtype", "bf16", "--mixed-precision", "fp16"],
            r"--dtype 'bf16' and --mixed-precision fp16 ask for different precisions; give only --dtype",
        ),
    ],
)
def test_fit_command_names_the_flags(
    gpus, tiny_pills: Path, tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    gpus(0)
    argv = ["fit", "--data", str(tiny_pills), "--out", str(tmp_path / "m"), *FIT, *flags]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert re.search(message, err), err


def test_generate_command_runs_in_bf16(tiny_pills: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    assert main(["fit", "--data", str(tiny_pills), "--out", str(model), *FIT, "--dtype", "bf16"]) == 0
    argv = ["generate", "--model", str(model), "--n", "1", "--out", str(tmp_path / "bank"), "--sample-steps", "2",
            "--no-quality-filter", "--device", "auto", "--dtype", "bf16"]  # fmt: skip
    assert main(argv) == 0
    assert len(list((tmp_path / "bank").rglob("*.png"))) >= 2


@pytest.mark.gpu
def test_fit_and_generate_on_the_gpu_in_bf16(tiny_pills: Path) -> None:
    synth = DefectSynthesizer(**TINY).to("cuda", "bf16")
    synth.fit(tiny_pills, defects=["spot"], steps=2, batch_size=1, progress=False)
    assert synth.backbone.device.type == "cuda"
    synth.generate(1, defect="spot", steps=2, quality_filter=False, progress=False, generator=0)


@pytest.mark.parametrize(
    ("command", "default"), [("fit", "auto"), ("generate", None), ("export", None), ("evaluate", None)]
)
def test_commands_take_device_and_dtype(command: str, default: str | None) -> None:
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    actions = {a.dest: a for a in sub._actions}
    assert actions["device"].default == "auto"
    assert (actions["dtype"].default, actions["dtype"].choices) == (default, ["auto", "fp32", "bf16", "fp16"])


@pytest.mark.parametrize(("native", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_dtype_is_bf16_only_where_the_hardware_has_it(
    monkeypatch: pytest.MonkeyPatch, native: bool, expected: torch.dtype
) -> None:
    monkeypatch.setattr(devices, "native_bf16", lambda device: native)
    assert resolve_dtype("auto", "cpu") == expected


@pytest.mark.parametrize(
    "probes", [{}, {"_is_amx_tile_supported": False, "_is_avx512_bf16_supported": False}]
)
def test_a_cpu_without_bf16_probes_or_features_is_not_native(
    monkeypatch: pytest.MonkeyPatch, probes: dict
) -> None:
    for name in devices._CPU_BF16_PROBES:
        if name in probes:
            monkeypatch.setattr(torch.cpu, name, lambda value=probes[name]: value)
        else:
            monkeypatch.delattr(torch.cpu, name, raising=False)
    assert not devices.native_bf16("cpu")


def test_auto_precision_leaves_a_precision_the_options_set(tiny_pills: Path) -> None:
    synth = DefectSynthesizer(**TINY)
    options = TrainOptions(mixed_precision="bf16")
    assert fit_precision("auto", options, synth.backbone) is options


@pytest.mark.parametrize(
    ("dtype", "mixed", "world", "expected"),
    [
        ("auto", "no", "1", "auto"),
        ("auto", "bf16", "1", None),
        ("auto", "no", "2", None),
        ("bf16", "no", "2", "bf16"),
    ],
)
def test_auto_yields_to_mixed_precision_and_to_a_launcher(
    monkeypatch: pytest.MonkeyPatch, dtype: str, mixed: str, world: str, expected: str | None
) -> None:
    monkeypatch.setenv("WORLD_SIZE", world)
    assert settled_dtype(dtype, mixed) == expected


def test_fit_command_defaults_to_auto_and_says_the_precision(
    monkeypatch: pytest.MonkeyPatch, tiny_pills: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(devices, "native_bf16", lambda device: True)
    assert main(["fit", "--data", str(tiny_pills), "--out", str(tmp_path / "m"), *FIT]) == 0
    assert "1 steps in bf16" in capsys.readouterr().out


def test_export_paints_in_the_dtype_asked(tiny_pills: Path, tmp_path: Path) -> None:
    synth = DefectSynthesizer(**TINY)
    synth.fit(tiny_pills, defects=["spot"], steps=1, batch_size=1, progress=False)
    synth.save_pretrained(tmp_path / "model")
    out = tmp_path / "export"
    counts = export_dataset(
        tmp_path / "model",
        tiny_pills,
        out,
        ratio=0.5,
        defects=["spot"],
        progress=False,
        device="cpu",
        dtype="bf16",
    )
    assert counts["synthetic"] >= 1
    state = json.loads((out / ".defect-synth-export.json").read_text())
    assert state["dtype"] == "bf16"
