"""ONNX import: ONNX models as tfrt-ray graphs.

- `import_onnx` turns a model into a `Graph` (`import_model` also returns the defaults of
  optional inputs and what was folded; see `tfrt_ray.frontends.onnx.importer`).
- `load_onnx` returns an `OnnxProgram`: the model compiled, run by input name.
- `tfrt_ray.frontends.onnx.backend` is the ONNX backend API over tfrt-ray.
"""

from __future__ import annotations

import os
from typing import Any

from tfrt_ray.frontends.onnx.importer import OnnxImport, import_model
from tfrt_ray.frontends.onnx.program import OnnxProgram
from tfrt_ray.frontends.onnx.proto import pb
from tfrt_ray.frontends.onnx.registry import supported_op_types
from tfrt_ray.ir.graph import Graph


def import_onnx(
    model: str | bytes | os.PathLike | pb.ModelProto,
    *,
    base_dir: str | os.PathLike | None = None,
) -> Graph:
    """Imports an ONNX model (a path, its bytes, or a ModelProto) as a tfrt-ray Graph.

    The graph's inputs are the model's inputs by name, in the model's order; initializers
    the model also lists as inputs are among them (optional overrides:
    `import_model(...).defaults` has their values) unless they had to be folded. External
    data is read from ``base_dir`` (default: the model file's folder).

    Raises:
        ModelLoadError: the file is missing, truncated or corrupt, or external data is
            missing.
        UnknownOpError: the model uses ONNX ops tfrt-ray cannot import (all are listed).
        StaticValueError: a shape-like value depends on the inputs; use `load_onnx`, which
            compiles per input signature.
    """
    return import_model(model, base_dir=base_dir).graph


def load_onnx(
    model: Any, *, base_dir: str | os.PathLike | None = None, dims: Any = None,
    opt_level: int = 2,
) -> OnnxProgram:
    """Loads an ONNX model as an `OnnxProgram` (``program.run(inputs) -> dict``);
    ``dims={"seq": 128}`` fixes the named symbolic input dims; ``opt_level`` (default 2)
    picks the compiler passes."""
    return OnnxProgram(model, base_dir=base_dir, dims=dims, opt_level=opt_level)


__all__ = [
    "OnnxImport",
    "OnnxProgram",
    "import_model",
    "import_onnx",
    "load_onnx",
    "supported_op_types",
]
