"""Converters: one function per ONNX op type, registered by (domain, op type).

A converter takes a `NodeContext` (the ONNX node, its inputs as `Value`s, its attributes
and opset) and returns the node's outputs: a `Value`, or a list with one entry per ONNX
output (None for an output it does not produce). It emits tfrt-ray ops with
``ctx.emit``; an op whose inputs are all constants is folded at import time. Per-opset
semantics live in the converter, which reads ``ctx.opset``.

ONNX ops without a converter that ONNX defines as a function (the schema's function body,
or its context-dependent body) are expanded into that body by the importer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Converter = Callable[[Any], Any]
_CONVERTERS: dict[tuple[str, str], Converter] = {}

DEFAULT_DOMAIN = ""
_ALIASES = {"ai.onnx": DEFAULT_DOMAIN}


def normalize_domain(domain: str) -> str:
    return _ALIASES.get(domain, domain)


def converter(*op_types: str, domain: str = DEFAULT_DOMAIN) -> Callable[[Converter], Converter]:
    """Registers the decorated function as the converter of ``op_types`` in ``domain``."""

    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            key = (domain, op_type)
            if key in _CONVERTERS:
                raise ValueError(f"ONNX converter for {key} is registered twice")
            _CONVERTERS[key] = fn
        return fn

    return register


def find_converter(domain: str, op_type: str) -> Converter | None:
    _load()
    return _CONVERTERS.get((normalize_domain(domain), op_type))


def supported_op_types() -> dict[str, list[str]]:
    """Domain -> the ONNX op types with a converter (function-defined ops come on top)."""
    _load()
    table: dict[str, list[str]] = {}
    for domain, op_type in sorted(_CONVERTERS):
        table.setdefault(domain, []).append(op_type)
    return table


def _load() -> None:
    from tfrt_ray.frontends.onnx import converters  # noqa: F401  (registers them)
