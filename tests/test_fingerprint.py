"""Model fingerprint: deterministic, cheap (strided sample + integer checksum), sensitive to any weight."""

from __future__ import annotations

import copy

import pytest
import torch

from augment.models.fingerprint import model_fingerprint, tensor_digest


def model(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 8)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_same_weights_same_fingerprint(dtype: torch.dtype) -> None:
    net = model(dtype=dtype)
    assert model_fingerprint([net], sample=16) == model_fingerprint([copy.deepcopy(net)], sample=16)


def test_fingerprint_does_not_depend_on_thread_count() -> None:
    threads = torch.get_num_threads()
    net = model()
    try:
        torch.set_num_threads(1)
        one = model_fingerprint([net])
    finally:
        torch.set_num_threads(threads)
    assert model_fingerprint([net]) == one


@pytest.mark.parametrize("index", [0, 1, 4095])  # 0 is sampled; 1 and 4095 are not (stride 256)
def test_changing_any_one_weight_changes_it(index: int) -> None:
    net = model()
    before = model_fingerprint([net], sample=16)
    with torch.no_grad():
        flat = net[0].weight.view(-1)
        flat[index] = torch.nextafter(flat[index], torch.tensor(10.0))
    assert model_fingerprint([net], sample=16) != before


def test_other_seed_or_extra_module_changes_it() -> None:
    assert model_fingerprint([model(0)]) != model_fingerprint([model(1)])
    assert model_fingerprint([model(0)]) != model_fingerprint([model(0), model(1)])
    assert model_fingerprint([model(0), None]) == model_fingerprint([model(0)])


def test_digest_reads_only_a_sample_of_the_values() -> None:
    digest = tensor_digest(torch.arange(10_000, dtype=torch.float32), sample=100)
    header_end = digest.index(b"|", digest.index(b"|", digest.index(b"|") + 1) + 1) + 1
    assert len(digest) - header_end == 100 * 4  # 100 float32 samples
