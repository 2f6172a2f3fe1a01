"""The pass tests use small tensors: let elementwise fusion apply to them too (by
default it skips tensors too small to gain from it; see test_fusion_threshold)."""

from __future__ import annotations

import importlib

import pytest


@pytest.fixture(autouse=True)
def fuse_small_tensors(monkeypatch, request):
    if "keep_fusion_threshold" not in request.keywords:
        module = importlib.import_module("tfrt_ray.passes.fuse_elementwise")
        monkeypatch.setattr(module, "MIN_FUSE_ELEMENTS", 0)
