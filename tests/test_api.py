"""The public API surface: every name in ``__all__`` resolves."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["augment", "downstream", "eval"])
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", [])
    assert names, f"{package} declares no public API"
    for name in names:
        assert getattr(module, name) is not None
