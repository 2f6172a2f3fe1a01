"""ONNX's protobuf messages (`ModelProto`, `TensorProto`, ...) without the `onnx` package.

``import onnx`` costs about a second of start-up, nearly all of it `ml_dtypes` (imported by
``onnx.helper``), which reading and running a model of native dtypes never needs. `pb` is
the installed onnx wheel's generated ``onnx/onnx-ml.proto`` module, loaded by itself under
its own name, ``onnx.onnx_ml_pb2``. When the ``onnx`` package is imported later it finds
that module in ``sys.modules`` and uses it, so the message classes are the same either
way: ``isinstance(m, onnx.ModelProto)`` holds for a model parsed here, and a ModelProto a
user built with ``onnx.helper`` is ours too.

`onnx_package()` imports the whole package, for what needs it: operator schemas, external
data, the low-precision dtypes.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

_NAME = "onnx.onnx_ml_pb2"


def _load() -> ModuleType:
    loaded = sys.modules.get(_NAME)
    if loaded is not None:
        return loaded
    if "onnx" in sys.modules:  # the package is there already: its module is the one
        return importlib.import_module(_NAME)
    spec = importlib.util.find_spec("onnx")  # finds the package without running it
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("No module named 'onnx'", name="onnx")
    path = os.path.join(os.path.dirname(spec.origin), "onnx_ml_pb2.py")
    if not os.path.isfile(path):  # an onnx laid out otherwise: import it the usual way
        return importlib.import_module(_NAME)
    module_spec = importlib.util.spec_from_file_location(_NAME, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[_NAME] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_NAME]
        raise
    return module


pb = _load()
AttributeProto = pb.AttributeProto
FunctionProto = pb.FunctionProto
GraphProto = pb.GraphProto
ModelProto = pb.ModelProto
NodeProto = pb.NodeProto
SparseTensorProto = pb.SparseTensorProto
TensorProto = pb.TensorProto
TypeProto = pb.TypeProto
ValueInfoProto = pb.ValueInfoProto


def onnx_package() -> ModuleType:
    """The ``onnx`` package (imported on first use)."""
    import onnx

    if not hasattr(onnx, "onnx_ml_pb2"):  # a submodule found in sys.modules is not bound
        onnx.onnx_ml_pb2 = pb
    return onnx
