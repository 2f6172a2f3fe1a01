"""ONNX functions: model-local functions, and ONNX ops that ONNX itself defines as a
function of other ops (their schema's function body, or the body ONNX builds for the
node's input types). A node of such an op without a converter is expanded into its body.

Also the up-front check that every node of a model can be converted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tfrt_ray.errors import UnknownOpError
from tfrt_ray.frontends.onnx.proto import onnx_package, pb
from tfrt_ray.frontends.onnx.registry import find_converter, normalize_domain
from tfrt_ray.frontends.onnx.tensors import type_proto_of

if TYPE_CHECKING:
    from tfrt_ray.frontends.onnx.context import NodeContext
    from tfrt_ray.frontends.onnx.importer import Importer

LocalFunctions = dict[tuple[str, str], pb.FunctionProto]


def _schema(op_type: str, opset: int, domain: str):
    defs = onnx_package().defs  # the schemas: only for ops without a converter
    try:
        return defs.get_schema(op_type, opset, domain)
    except defs.SchemaError:
        return None


def _best(versions: Any, opset: int) -> int | None:
    fitting = [v for v in versions if v <= opset]
    return max(fitting) if fitting else None


def _opsets(protos: Any) -> dict[str, int]:
    return {normalize_domain(o.domain): int(o.version) for o in protos}


def static_body(op_type: str, domain: str, opset: int):
    """(FunctionProto, schema) of an op with a static function body at ``opset``, or None."""
    schema = _schema(op_type, opset, domain)
    if schema is None or not schema.has_function:
        return None
    version = _best(schema.function_opset_versions, opset)
    if version is None:
        return None
    proto = pb.FunctionProto()
    proto.ParseFromString(schema.get_function_with_opset_version(version))
    return proto, schema


def has_dynamic_body(op_type: str, domain: str, opset: int) -> bool:
    schema = _schema(op_type, opset, domain)
    return bool(
        schema is not None
        and schema.has_context_dependent_function
        and _best(schema.context_dependent_function_opset_versions, opset) is not None
    )


def check_supported(
    graph: pb.GraphProto, opsets: dict[str, int], local: LocalFunctions
) -> None:
    """Raises one UnknownOpError listing every node (op, name, opset) that cannot be
    converted, before anything is built or run."""
    missing: dict[tuple[str, str, int], list[str]] = {}
    _collect(graph.node, opsets, local, missing, "", set())
    if not missing:
        return
    parts = []
    for (domain, op_type, opset), names in sorted(missing.items()):
        shown = ", ".join(f"'{n}'" for n in names[:5]) + (", ..." if len(names) > 5 else "")
        qual = f"{domain}." if domain else ""
        parts.append(f"{qual}{op_type} (opset {opset}; node{'s' if len(names) > 1 else ''} "
                     f"{shown})")
    raise UnknownOpError(
        f"the model uses {len(parts)} ONNX op type(s) tfrt-ray cannot import: "
        + "; ".join(parts),
        hint="see tfrt_ray.frontends.onnx.supported_op_types(); an op is added by writing "
        "its converter in tfrt_ray/frontends/onnx/converters/",
    )


def _collect(nodes, opsets, local, missing, prefix, seen) -> None:
    for i, node in enumerate(nodes):
        domain = normalize_domain(node.domain)
        opset = opsets.get(domain)
        if find_converter(domain, node.op_type) is not None:
            for attr in node.attribute:
                for g in [attr.g] if attr.type == pb.AttributeProto.GRAPH else attr.graphs:
                    _collect(g.node, opsets, local, missing,
                             f"{prefix}{node.name or node.op_type}/", seen)
            continue
        key = (node.domain, node.op_type)
        if key in local:
            if key not in seen:
                f = local[key]
                _collect(f.node, {**opsets, **_opsets(f.opset_import)}, local, missing,
                         f"{prefix}{node.name or node.op_type}/", seen | {key})
            continue
        if opset is not None:
            found = static_body(node.op_type, domain, opset)
            if found is not None:
                body = found[0]
                _collect(body.node, _opsets(body.opset_import), local, missing,
                         f"{prefix}{node.name or node.op_type}/", seen)
                continue
            if has_dynamic_body(node.op_type, domain, opset):
                continue  # its body depends on input types; checked when expanded
        name = prefix + (node.name or f"{node.op_type}_{i}")
        missing.setdefault((domain, node.op_type, opset or 0), []).append(name)


def expand(
    importer: Importer, ctx: NodeContext, opsets: dict[str, int], local: LocalFunctions
) -> list:
    """Converts ``ctx``'s node by converting its function body; returns its outputs."""
    node = ctx.node
    domain = normalize_domain(node.domain)
    key = (node.domain, node.op_type)
    attrs = {a.name: a for a in node.attribute}
    if key in local:
        proto = local[key]
        for a in proto.attribute_proto:
            attrs.setdefault(a.name, a)
        f_opsets = {**opsets, **_opsets(proto.opset_import)}
    else:
        proto = _schema_body(ctx, domain, attrs)
        f_opsets = _opsets(proto.opset_import)
    prefix = importer.unique_prefix(ctx.name)
    rename = {name: (node.input[i] if i < len(node.input) else "")
              for i, name in enumerate(proto.input)}

    def new(name: str) -> str:
        if not name:
            return ""
        return rename.get(name, prefix + name)

    body = [_rename_node(inner, new, attrs) for inner in proto.node]
    importer.convert_nodes(body, f_opsets, prefix=f"{ctx.name}/", loc_prefix=ctx.loc.name or "")
    return [importer.values.get(new(o)) for o in proto.output[: len(node.output)]]


def _rename_node(inner: pb.NodeProto, new, attrs: dict) -> pb.NodeProto:
    """A copy of a function-body node with its names mapped by ``new`` and attribute
    references replaced by the calling node's attributes (subgraphs included)."""
    n = pb.NodeProto()
    n.CopyFrom(inner)
    del n.input[:]
    del n.output[:]
    del n.attribute[:]
    n.input.extend(new(x) for x in inner.input)
    n.output.extend(new(x) for x in inner.output)
    for a in inner.attribute:
        if a.ref_attr_name:
            if a.ref_attr_name in attrs:
                b = pb.AttributeProto()
                b.CopyFrom(attrs[a.ref_attr_name])
                b.name = a.name
                n.attribute.append(b)
            continue
        b = pb.AttributeProto()
        b.CopyFrom(a)
        if a.type == pb.AttributeProto.GRAPH:
            b.g.CopyFrom(_rename_graph(a.g, new, attrs))
        elif a.type == pb.AttributeProto.GRAPHS:
            del b.graphs[:]
            b.graphs.extend(_rename_graph(g, new, attrs) for g in a.graphs)
        n.attribute.append(b)
    return n


def _rename_graph(g: pb.GraphProto, new, attrs: dict) -> pb.GraphProto:
    """A subgraph of a function body: its own names stay, outer references are mapped."""
    local = {v.name for v in g.input} | {t.name for t in g.initializer}
    local |= {o for node in g.node for o in node.output}

    def sub(name: str) -> str:
        return name if not name or name in local else new(name)

    out = pb.GraphProto()
    out.CopyFrom(g)
    del out.node[:]
    out.node.extend(_rename_node(node, sub, attrs) for node in g.node)
    for v in out.output:
        v.name = sub(v.name)
    return out


def _schema_body(ctx: NodeContext, domain: str, attrs: dict) -> pb.FunctionProto:
    node = ctx.node
    schema = _schema(node.op_type, ctx.opset, domain)
    if schema is None:
        raise UnknownOpError(
            f"ONNX op {node.op_type} (opset {ctx.opset}) is unknown", node=ctx.name, loc=ctx.loc
        )
    full = pb.NodeProto()
    full.CopyFrom(node)
    for name, a in schema.attributes.items():
        if name not in attrs and a.default_value is not None and a.default_value.type:
            d = pb.AttributeProto()
            d.CopyFrom(a.default_value)
            d.name = name
            full.attribute.append(d)
            attrs[name] = d
    if schema.has_function:
        version = _best(schema.function_opset_versions, ctx.opset)
        if version is not None:
            proto = pb.FunctionProto()
            proto.ParseFromString(schema.get_function_with_opset_version(version))
            return proto
    version = _best(schema.context_dependent_function_opset_versions, ctx.opset)
    if version is None:
        raise UnknownOpError(
            f"ONNX op {node.op_type} (opset {ctx.opset}) has no converter and no function body",
            node=ctx.name,
            loc=ctx.loc,
        )
    types = [
        (type_proto_of(v.type, getattr(v, "fmt", None)) if v is not None
         else pb.TypeProto()).SerializeToString()
        for v in ctx.inputs
    ]
    proto = pb.FunctionProto()
    proto.ParseFromString(
        schema.get_context_dependent_function_with_opset_version(
            version, full.SerializeToString(), types
        )
    )
    return proto
