"""Where an ONNX file's weights lie, so that they are read once and never parsed.

protobuf's parser copies each ``raw_data`` field into the message it builds, and an array
made from a parsed tensor copies it again: holding the message and the arrays keeps every
weight twice (three times while the file's bytes are alive). `split_weights` walks the
file's wire format instead. It returns the model's bytes with the ``raw_data`` of the main
graph's initializers left out (nodes and metadata: kilobytes to parse) and, for each
initializer left out, where its data lies in the file's bytes; the loader reads each
weight from there into one aligned buffer (`tfrt_ray.frontends.onnx.loader`).

Only the layout protobuf's serializers write is split: one ``graph`` field, length-
delimited initializers with a little-endian native dtype (`tensors.NATIVE_DTYPES`).
Anything else (a model whose weights sit in Constant nodes, say) returns None and is
parsed whole, as before.
"""

from __future__ import annotations

from collections.abc import Iterator

# Field numbers in onnx.proto: ModelProto.graph, GraphProto.initializer,
# TensorProto.data_type and TensorProto.raw_data.
_MODEL_GRAPH, _GRAPH_INITIALIZER, _DATA_TYPE, _RAW_DATA, _DATA_LOCATION = 7, 5, 2, 9, 14
_EXTERNAL = 1
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
# Split only where the weights are most of the file: otherwise the skeleton (a copy of
# the rest) would cost more than it saves.
_MIN_SHARE = 0.5


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("malformed protobuf")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, start of the key, start of the value, end of the field)
    for each field of the message in ``buf[start:end]``; for a length-delimited field
    the value starts after its length."""
    pos = start
    while pos < end:
        key_at = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value_at = pos
            _, pos = _varint(buf, pos, end)
        elif wire == _FIXED64:
            value_at, pos = pos, pos + 8
        elif wire == _FIXED32:
            value_at, pos = pos, pos + 4
        elif wire == _BYTES:
            length, value_at = _varint(buf, pos, end)
            pos = value_at + length
        else:  # groups: not in onnx.proto
            raise ValueError("malformed protobuf")
        if pos > end:
            raise ValueError("malformed protobuf")
        yield number, wire, key_at, value_at, pos


def _tensor(buf: bytes, start: int, end: int, native: frozenset[int]):
    """The tensor's bytes without its raw_data and where that data lies, or None when it
    is not split (no raw_data, external data, or a dtype NumPy does not hold natively)."""
    data_type, raw, external, kept = 0, None, False, []
    for number, wire, key_at, value_at, field_end in _fields(buf, start, end):
        if number == _RAW_DATA and wire == _BYTES:
            raw = (value_at, field_end)  # the last occurrence wins, as in protobuf
            continue
        if wire == _VARINT and number in (_DATA_TYPE, _DATA_LOCATION):
            value, _ = _varint(buf, value_at, field_end)
            if number == _DATA_TYPE:
                data_type = value
            else:
                external = value == _EXTERNAL
        kept.append(buf[key_at:field_end])
    if raw is None or external or data_type not in native:
        return None
    return b"".join(kept), raw


def _length_delimited(number: int, body: bytes) -> bytes:
    """Field ``number`` holding ``body``, encoded as protobuf's serializers write it."""
    return _encode_varint(number << 3 | _BYTES) + _encode_varint(len(body)) + body


def split_weights(buf: bytes, native: frozenset[int]) -> tuple[bytes, dict[int, tuple]] | None:
    """``(skeleton, spans)``: the model without its initializers' raw_data, and for the
    i-th initializer of the main graph whose data was left out, ``spans[i] = (start,
    end)`` in ``buf``. None where the file is not split (see the module docstring)."""
    try:
        return _split(buf, native)
    except ValueError:  # of ours, from _fields: the bytes are not what we expect
        return None  # protobuf's parser says what is wrong


def _split(buf: bytes, native: frozenset[int]):
    out: list[bytes] = []
    spans: dict[int, tuple] = {}
    graphs = 0
    for number, wire, key_at, value_at, end in _fields(buf, 0, len(buf)):
        if number != _MODEL_GRAPH or wire != _BYTES:
            out.append(buf[key_at:end])
            continue
        graphs += 1
        if graphs > 1:  # fields of a repeated message merge: leave that to protobuf
            return None
        graph: list[bytes] = []
        index = 0
        for n, w, k, v, e in _fields(buf, value_at, end):
            if n != _GRAPH_INITIALIZER or w != _BYTES:
                graph.append(buf[k:e])
                continue
            split = _tensor(buf, v, e, native)
            if split is None:
                graph.append(buf[k:e])
            else:
                body, spans[index] = split
                graph.append(_length_delimited(_GRAPH_INITIALIZER, body))
            index += 1
        out.append(_length_delimited(_MODEL_GRAPH, b"".join(graph)))
    weights = sum(end - start for start, end in spans.values())
    if weights < _MIN_SHARE * len(buf):
        return None
    return b"".join(out), spans
