"""``tfrt-ray inspect model.onnx``: what the model is and what tfrt-ray makes of it."""

from __future__ import annotations

import sys
from collections import Counter

from tfrt_ray.errors import StaticValueError, UnknownOpError


def inspect_onnx(path: str, show_ir: bool = False) -> int:
    """Prints the model's inputs, outputs and ONNX op counts, then the imported graph's
    summary, or the ONNX ops tfrt-ray cannot import (exit status 1)."""
    from tfrt_ray.frontends.onnx.importer import import_model, initializer_inputs
    from tfrt_ray.frontends.onnx.loader import read_model

    loaded = read_model(path)
    proto = loaded.proto
    g = proto.graph
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in proto.opset_import)
    print(f"model {path}: ir_version {proto.ir_version}, opset {opsets}"
          + (f", producer {proto.producer_name} {proto.producer_version}".rstrip()
             if proto.producer_name else ""))
    inits = {t.name for t in g.initializer}
    print("inputs:")
    for vi in g.input:
        if vi.name not in inits:
            print(f"  {vi.name}: {_onnx_type(vi.type)}")
    optional = [vi.name for vi in g.input if vi.name in inits]
    if optional:
        print(f"optional inputs (initializers; folded to their defaults): {optional}")
    print("outputs:")
    for vi in g.output:
        print(f"  {vi.name}: {_onnx_type(vi.type)}")
    counts = Counter(_qualified(n) for n in g.node)
    print(f"ONNX ops: {len(g.node)} nodes, {len(g.initializer)} initializers")
    _print_counts(counts)

    try:
        imp = import_model(loaded, static_inputs=initializer_inputs(loaded))
    except UnknownOpError as err:
        missing = unsupported_ops(proto)
        print(f"unsupported ops ({len(missing) or '?'}):")
        for op, nodes in missing.items():
            print(f"  {op}: {len(nodes)} node(s), e.g. '{nodes[0]}'")
        print(f"error: {err}", file=sys.stderr)
        return 1
    except StaticValueError as err:
        print("imported graph: none yet; shapes depend on input values, so the model is "
              f"compiled per input signature when run ({err.message})")
        return 0
    graph = imp.graph
    print(f"imported graph '{graph.name}': {len(graph.nodes)} ops")
    for name, v in zip(graph.input_names, graph.inputs, strict=True):
        print(f"  input  {name}: {graph.types[v]}")
    for name, v in zip(graph.output_names, graph.outputs, strict=True):
        print(f"  output {name}: {graph.types[v]}")
    _print_counts(Counter(graph.op_counts()))
    if show_ir:
        print(graph.as_text(elide_constants=True))
    return 0


def unsupported_ops(proto) -> dict[str, list[str]]:
    """``domain::op`` (or ``op``) -> the nodes using it, for ops with no converter.
    Ops inside subgraphs (If, Loop bodies) count too."""
    from tfrt_ray.frontends.onnx import supported_op_types

    supported = {(d, op) for d, ops in supported_op_types().items() for op in ops}
    local = {(f.domain, f.name) for f in proto.functions}
    opset = {o.domain if o.domain != "ai.onnx" else "": o.version for o in proto.opset_import}
    found: dict[str, list[str]] = {}
    for node in _nodes(proto.graph):
        key = (node.domain if node.domain != "ai.onnx" else "", node.op_type)
        if key not in supported and key not in local and not _has_body(key, opset):
            found.setdefault(_qualified(node), []).append(node.name or node.op_type)
    return dict(sorted(found.items()))


def _has_body(key: tuple[str, str], opset: dict[str, int]) -> bool:
    """ONNX defines the op as a function, which the importer expands."""
    import onnx

    domain, op = key
    try:
        schema = onnx.defs.get_schema(op, opset.get(domain, 1), domain)
    except Exception:  # noqa: BLE001 - onnx raises SchemaError for unknown ops
        return False
    return bool(schema.has_function or schema.has_context_dependent_function)


def _nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _nodes(attr.g)
            for sub in attr.graphs:
                yield from _nodes(sub)


def _qualified(node) -> str:
    return f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") \
        else node.op_type


def _print_counts(counts: Counter) -> None:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    line = "  "
    for op, n in items:
        cell = f"{op} x{n}   "
        if len(line) + len(cell) > 92:
            print(line.rstrip())
            line = "  "
        line += cell
    if line.strip():
        print(line.rstrip())


def _onnx_type(t) -> str:
    from onnx import TensorProto

    kind = t.WhichOneof("value")
    if kind != "tensor_type":
        return kind or "unknown"
    tt = t.tensor_type
    elem = TensorProto.DataType.Name(tt.elem_type).lower()
    if not tt.HasField("shape"):
        return f"{elem}[?]"
    dims = [str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
            for d in tt.shape.dim]
    return f"{elem}[{', '.join(dims)}]"
