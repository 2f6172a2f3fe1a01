"""Reading an ONNX model: from a path, bytes or a ModelProto, with its external data.

Every failure is a `ModelLoadError` that names the file: a missing or unreadable model, a
truncated or corrupt one (never protobuf's DecodeError), a missing external-data file.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from google.protobuf.message import DecodeError

from tfrt_ray.errors import InputError, ModelLoadError
from tfrt_ray.frontends.onnx.proto import AttributeProto, TensorProto, onnx_package, pb
from tfrt_ray.frontends.onnx.tensors import NATIVE_DTYPES, raw_view, to_array
from tfrt_ray.frontends.onnx.wire import split_weights

ALIGN = 64  # bytes: where each weight starts (a cache line; what BLAS and oneDNN like)


@dataclass(frozen=True)
class LoadedModel:
    """A parsed model with its external data in memory; ``path`` is None for bytes.

    A model read from a file or bytes holds its weights once: the main graph's
    initializers are left out of ``proto`` and are read-only arrays, each read once into
    one 64-byte-aligned buffer (``weights``, by name; `tfrt_ray.frontends.onnx.wire`).
    `initializer` is the one way to read an initializer of the main graph."""

    proto: pb.ModelProto
    path: str | None
    weights: dict = field(default_factory=dict, compare=False, repr=False)

    def initializer(self, t: TensorProto) -> np.ndarray:
        """The value of the main graph's initializer ``t``."""
        view = self.weights.get(t.name)
        return view if view is not None else to_array(t, f"initializer '{t.name}'")


def read_model(
    model: str | bytes | os.PathLike | pb.ModelProto, base_dir: str | os.PathLike | None = None,
    dims: Mapping[str, int] | None = None,
) -> LoadedModel:
    """Parses ``model`` and loads its external data (from ``base_dir``, by default the
    model file's folder, or the working directory for bytes and protos)."""
    path: str | None = None
    weights: dict = {}
    if isinstance(model, pb.ModelProto):
        proto = model
    elif isinstance(model, (bytes, bytearray, memoryview)):
        proto, weights = _parse_split(bytes(model), "the model bytes")
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        try:
            proto, weights = _read_split(path)
        except OSError as exc:
            raise ModelLoadError(
                f"cannot read ONNX model file '{path}': {exc.strerror or exc}",
                hint="check the path (and that it is a file you may read)",
            ) from None
    else:
        raise ModelLoadError(
            f"cannot load an ONNX model from a {type(model).__name__}",
            hint="pass a path, the model's bytes, or an onnx.ModelProto",
        )
    if not proto.HasField("graph"):
        where = f"'{path}'" if path else "the model"
        raise ModelLoadError(
            f"{where} has no graph: it is not an ONNX model, or it is truncated",
            hint="re-export the model, or check the file was copied whole",
        )
    folder = os.fspath(base_dir) if base_dir is not None else (
        os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    )
    external = [t for t in _tensors(proto.graph) if _is_external(t)]
    if external:
        if isinstance(model, pb.ModelProto):
            proto = _copy(proto)  # loading external data writes into the proto
        _load_external(proto, folder, path)
    if dims:
        if proto is model:
            proto = _copy(proto)
        fix_dims(proto, dims)
    return LoadedModel(proto, path, weights)


def symbolic_dims(proto: pb.ModelProto) -> list[str]:
    """The names of the symbolic dims of the graph's inputs, in first-seen order."""
    out: list[str] = []
    for i in proto.graph.input:
        if i.type.HasField("tensor_type") and i.type.tensor_type.HasField("shape"):
            for d in i.type.tensor_type.shape.dim:
                if d.HasField("dim_param") and d.dim_param and d.dim_param not in out:
                    out.append(d.dim_param)
    return out


def fix_dims(proto: pb.ModelProto, dims: Mapping[str, int]) -> None:
    """Replaces each symbolic input dim named in ``dims`` by its int, in place."""
    known = symbolic_dims(proto)
    for name, value in dims.items():
        if name not in known:
            raise InputError(
                f"the model has no symbolic dimension '{name}'",
                hint=f"its symbolic input dims are: {', '.join(known) or '(none)'}",
            )
        if type(value) is not int or value < 1:
            raise InputError(f"dimension {name}={value!r} is not a positive integer",
                             hint=f"pass e.g. {name}=128")
    for i in proto.graph.input:
        if i.type.HasField("tensor_type") and i.type.tensor_type.HasField("shape"):
            for d in i.type.tensor_type.shape.dim:
                if d.HasField("dim_param") and d.dim_param in dims:
                    d.dim_value = dims[d.dim_param]


def _parse(data: bytes, what: str) -> pb.ModelProto:
    proto = pb.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(
            f"{what} is not a valid ONNX model (truncated or corrupt): {exc}",
            hint="re-export the model, or check the file was copied whole",
        ) from None
    return proto


def _read_split(path: str) -> tuple[pb.ModelProto, dict]:
    """`_parse_split` of a file: its structure is walked through a read-only map (which
    touches only the pages holding it), and each weight is read from the file straight
    into its place, so the process holds the weights once, even while loading."""
    with open(path, "rb") as f:
        try:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file: protobuf's parser says what is wrong
            return _parse_split(b"", f"'{path}'", None)

        def read_into(view: memoryview, start: int) -> int:
            f.seek(start)
            return f.readinto(view)

        with data:
            return _parse_split(data, f"'{path}'", read_into)


def _parse_split(data, what: str, read_into=None) -> tuple[pb.ModelProto, dict]:
    """The model without its initializers' bytes, and those as read-only arrays in one
    buffer, each starting on a 64-byte boundary.

    The weights are copied (once) rather than viewed where they lie in ``data``: a raw_data
    field starts wherever the protobuf framing before it ends, and NumPy gives misaligned
    arrays slow paths (a product copies its misaligned operand on every call, 15% of
    BERT's GEMM time; ``take`` of a misaligned embedding table copies the whole table).
    ``read_into(view, start)`` fills ``view`` from offset ``start`` and returns how many
    bytes it read (default: a copy from ``data``)."""
    split = split_weights(data, NATIVE_DTYPES)
    if split is None:
        return _parse(bytes(data), what), {}
    skeleton, spans = split
    proto = _parse(skeleton, what)
    if read_into is None:
        source = memoryview(data)

        def read_into(view: memoryview, start: int) -> int:
            view[:] = source[start : start + len(view)]
            return len(view)

    at, size = {}, 0
    for i, (start, end) in spans.items():
        at[i] = size
        size += -(-(end - start) // ALIGN) * ALIGN
    block = _aligned(size)
    weights = {}
    for i, t in enumerate(proto.graph.initializer):
        if i in spans:
            start, end = spans[i]
            view = block[at[i] : at[i] + end - start]
            got = read_into(view, start)
            try:
                if got != end - start:  # the file shrank while it was read
                    raise ValueError(f"the file ends {end - start - got} bytes early")
                weights[t.name] = raw_view(view, (0, end - start), t,
                                           f"initializer '{t.name}'")
                weights[t.name].flags.writeable = False
            except ValueError as exc:
                raise ModelLoadError(
                    f"{what}: initializer '{t.name}' has {spans[i][1] - spans[i][0]} bytes "
                    f"of data for shape {list(t.dims)} ({exc})",
                    hint="re-export the model, or check the file was copied whole",
                ) from None
    return proto, weights


def _aligned(size: int) -> memoryview:
    """``size`` writable bytes starting on an `ALIGN`-byte boundary."""
    raw = np.empty(size + ALIGN, np.uint8)
    skip = -raw.ctypes.data % ALIGN
    return memoryview(raw[skip : skip + size])


def _copy(proto: pb.ModelProto) -> pb.ModelProto:
    out = pb.ModelProto()
    out.CopyFrom(proto)
    return out


def _is_external(t: TensorProto) -> bool:
    return t.HasField("data_location") and t.data_location == TensorProto.EXTERNAL


def _tensors(graph: pb.GraphProto) -> Iterator[TensorProto]:
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == AttributeProto.TENSORS:
                yield from attr.tensors
            elif attr.type == AttributeProto.GRAPH:
                yield from _tensors(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _tensors(g)


def _load_external(proto: pb.ModelProto, folder: str, path: str | None) -> None:
    model_name = f"'{path}'" if path else "the model"
    onnx = onnx_package()
    external = onnx.external_data_helper
    for t in _tensors(proto.graph):
        if not _is_external(t):
            continue
        info = external.ExternalDataInfo(t)
        file = os.path.join(folder, info.location)
        if not info.location or not os.path.isfile(file):
            raise ModelLoadError(
                f"the external data file '{file}' of tensor '{t.name}' (in {model_name}) "
                "does not exist",
                hint="put the data file next to the model, or pass base_dir= to the folder "
                "that holds it",
            )
        size = os.path.getsize(file)
        end = (info.offset or 0) + (info.length or 0)
        if info.length and end > size:
            raise ModelLoadError(
                f"the external data file '{file}' of tensor '{t.name}' is {size} bytes, but "
                f"the tensor needs bytes {info.offset or 0}..{end}: it is truncated",
                hint="copy the data file again, whole",
            )
    try:
        external.load_external_data_for_model(proto, folder)
    except (OSError, ValueError, onnx.checker.ValidationError) as exc:
        raise ModelLoadError(
            f"cannot load the external data of {model_name} from '{folder}': {exc}",
            hint="pass base_dir= to the folder that holds the data files",
        ) from None
