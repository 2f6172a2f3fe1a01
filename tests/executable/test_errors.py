"""Bad files end in a typed error that says what is wrong and how to fix it: foreign,
truncated, too new, corrupt, or tampered with by someone who recomputed the checksums."""

from __future__ import annotations

import copy
import pickle
import struct
import zlib

import pytest

from tests.executable.programs import mlp_graph, rebuild, split_file, weights_graph
from tfrt_ray.errors import ExecutableFormatError, ExecutableVersionError
from tfrt_ray.executable import FORMAT_VERSION, MAGIC, read_executable, write_executable
from tfrt_ray.executable import header as header_module

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def mlp_file(tmp_path):
    path = tmp_path / "mlp.trx"
    write_executable(path, mlp_graph(width=16))
    return path


def _read(tmp_path, data: bytes, verify_weights: bool = True):
    path = tmp_path / "bad.trx"
    path.write_bytes(data)
    return read_executable(path, verify_weights=verify_weights)


def _fails(tmp_path, data: bytes, match: str, verify_weights: bool = True):
    with pytest.raises(ExecutableFormatError, match=match) as info:
        _read(tmp_path, data, verify_weights)
    assert str(tmp_path / "bad.trx") in str(info.value)  # names the file
    return info.value


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG\r\n\x1a\n" + bytes(200), b"func @f() -> () {\n}\n", b"\x00" * 4096],
    ids=["empty", "png", "ir-text", "zeros"],
)
def test_foreign_files_are_not_executables(tmp_path, data):
    err = _fails(tmp_path, data, "not a tfrt-ray executable|truncated")
    assert err.hint


@pytest.mark.parametrize("newer", [True, False])
def test_unsupported_version_says_which_is_supported_and_how_to_fix(mlp_file, tmp_path, newer):
    data = bytearray(mlp_file.read_bytes())
    version = FORMAT_VERSION + 1 if newer else 0
    data[8:12] = struct.pack("<I", version)
    data[64:112] = b"tfrt-ray 9.9.9".ljust(48, b"\0") if newer else data[64:112]
    with pytest.raises(ExecutableVersionError) as info:
        _read(tmp_path, bytes(data))
    text = str(info.value)
    supported = f"format versions {header_module.MIN_FORMAT_VERSION} to {FORMAT_VERSION}"
    assert f"format version {version}" in text and supported in text
    if newer:
        assert "newer" in text and "tfrt-ray 9.9.9" in text and "upgrade tfrt-ray" in text
    else:
        assert "older" in text and "recompile" in text


def test_a_future_version_is_reported_even_with_a_different_header(tmp_path):
    future = MAGIC + struct.pack("<I", 99) + bytes(4)  # a header this version cannot parse
    with pytest.raises(ExecutableVersionError, match="format version 99"):
        _read(tmp_path, future)


def test_truncation_anywhere_is_caught(mlp_file, tmp_path):
    data = mlp_file.read_bytes()
    for cut in [1, 7, 8, 11, 12, 100, 127, 128, 200, len(data) // 2, len(data) - 1]:
        _fails(tmp_path, data[:cut], "truncated")
    _fails(tmp_path, data + b"\0", "trailing bytes")


@pytest.mark.parametrize(
    ("offset", "match"),
    [(70, "header's checksum"), (130, "program section's checksum"), (-3, "weight 5's checksum")],
    ids=["header", "program", "weights"],
)
def test_a_flipped_bit_is_caught_by_a_checksum(mlp_file, tmp_path, offset, match):
    data = bytearray(mlp_file.read_bytes())
    data[offset] ^= 0x10
    _fails(tmp_path, bytes(data), match)


def test_weight_checks_can_be_skipped_for_fast_loads(mlp_file, tmp_path):
    data = bytearray(mlp_file.read_bytes())
    data[-3] ^= 0x10  # inside the last weight
    g = _read(tmp_path, bytes(data), verify_weights=False).graph
    assert g.as_text(elide_constants=True) == mlp_graph(width=16).as_text(elide_constants=True)
    assert g != mlp_graph(width=16)  # the changed bytes went unnoticed, as documented


def test_nonzero_padding_is_caught(tmp_path):
    path = tmp_path / "w.trx"
    write_executable(path, weights_graph())
    doc, region = split_file(path.read_bytes())
    gaps = [w["offset"] - 1 for w in doc["weights"] if w["offset"] % 64 == 0 and w["offset"]]
    region = bytearray(region)
    region[gaps[-1]] = 1
    _fails(tmp_path, rebuild(doc, bytes(region)), "padding")


def test_program_over_the_cap_is_refused(mlp_file, tmp_path, monkeypatch):
    monkeypatch.setattr(header_module, "MAX_PROGRAM_BYTES", 100)
    _fails(tmp_path, mlp_file.read_bytes(), "over the cap")


def _tamper(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


N0 = ("graph", "nodes", 0)  # the first node: constant w0
MM = ("graph", "nodes", 2)  # matmul
TAMPERED = [
    ((N0 + ("op",)), "no_such_op", "unknown op 'no_such_op'"),
    ((N0 + ("op",)), 7, "expected a string"),
    ((N0 + ("inputs",)), "x", "expected an array"),
    ((MM + ("inputs", 0)), 999, "no type|not defined"),
    ((MM + ("inputs", 0)), -1, "expected an int >= 0"),
    ((MM + ("inputs", 0)), True, "expected an int"),
    ((MM + ("outputs",)), [], "outputs"),
    ((MM + ("attrs",)), [["alpha", 1.0]], "unknown attribute"),
    ((MM + ("loc",)), [1, 2, 3], "expected a string"),
    ((MM + ("extra",)), 1, "expected an object with keys"),
    ((MM + ("name",)), KeyError, "expected an object with keys"),
    (("graph", "nodes", -1, "attrs", 0, 1), 1.5, "not in canonical form|must be an int"),
    (("graph", "nodes", -1, "attrs", 0, 1), {"t": 0}, "must be an int"),
    (("graph", "nodes", -1, "attrs", 0, 1), {"x": 1}, "is not an attribute value"),
    (("graph", "nodes", -1, "attrs", 0, 1), {"f": []}, "is not an attribute value"),
    (("graph", "nodes", -1, "attrs", 0, 1), {"f": "NaN"}, "is not an attribute value"),
    ((N0 + ("attrs", 0, 1, "t")), 99, "expected an int in"),
    ((N0 + ("attrs", 0, 1)), 3, "must be|used by no attribute"),
    (("graph", "types", 0, 0), "f33", "not a dtype token"),
    (("graph", "types", 0, 1, 0), 9, "differ|infers|type"),
    (("graph", "types", 0, 1, 0), -2, "expected an int"),
    (("graph", "types", 0), "tensor<f32>", "expected a type"),
    (("graph", "types"), [], "no type"),
    (("graph", "outputs", 0), 12345, "no input or node defines"),
    (("graph", "input_names"), [], "0 names for 1 inputs"),
    (("graph", "output_names"), ["a", "b"], "2 names for 1 outputs"),
    (("graph", "name"), None, "expected a string"),
    (("weights", 0, "dtype"), "f64", "do not hold"),
    (("weights", 0, "shape"), [4, 4], "do not hold"),
    (("weights", 1, "offset"), 8, "next 64-byte boundary"),
    (("weights", 0, "crc32"), -1, "expected an int in"),
    (("weights", 0, "crc32"), 12345, "checksum"),
    (("metadata",), {"k": 1}, "expected a string"),
    (("metadata",), [], "expected an object"),
    (("plan",), [], "expected an object or null"),
    (("plan",), {"stages": 3}, "plan is malformed"),
    (("plan",), KeyError, "expected an object with keys"),
    (("graph",), KeyError, "expected an object with keys"),
]


@pytest.mark.parametrize(("path", "value", "match"), TAMPERED, ids=lambda x: repr(x)[:40])
def test_tampered_programs_end_in_the_typed_error(mlp_file, tmp_path, path, value, match):
    doc, region = split_file(mlp_file.read_bytes())
    assert rebuild(doc, region) == mlp_file.read_bytes()  # the surgery itself is exact
    _fails(tmp_path, rebuild(_tamper(doc, path, value), region), match)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "expected an object with keys"),
        (b'{"graph": 1, "graph": 2}', "repeated key"),
        (b'{"graph": NaN}', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[" * 100000 + b"]" * 100000, "not valid JSON|expected an object"),
        (b"1" * 5000, "not valid JSON"),
    ],
    ids=["cut", "array", "dup-key", "nan", "not-utf8", "deep", "huge-int"],
)
def test_malformed_json_ends_in_the_typed_error(mlp_file, tmp_path, raw, match):
    _, region = split_file(mlp_file.read_bytes())
    _fails(tmp_path, rebuild(raw, region), match)


def test_deeply_nested_attribute_is_refused(mlp_file, tmp_path):
    doc, region = split_file(mlp_file.read_bytes())
    deep: list = []
    for _ in range(200):
        deep = [deep]
    _fails(tmp_path, rebuild(_tamper(doc, MM + ("attrs",), [["x", deep]]), region), "attr")


def test_unused_and_bad_bool_weights_are_refused(tmp_path):
    path = tmp_path / "w.trx"
    write_executable(path, weights_graph())
    doc, region = split_file(path.read_bytes())
    extra = dict(doc["weights"][-1], offset=-(-len(region) // 64) * 64)
    grown = region + bytes(extra["offset"] - len(region)) + region[-extra["nbytes"] :]
    more = _tamper(doc, ("weights",), doc["weights"] + [extra])
    _fails(tmp_path, rebuild(more, grown), "used by no attribute")
    (i,) = [i for i, w in enumerate(doc["weights"]) if w["dtype"] == "i1"]
    entry = doc["weights"][i]
    region = bytearray(region)
    region[entry["offset"]] = 2
    fixed = zlib.crc32(bytes(region[entry["offset"] : entry["offset"] + entry["nbytes"]]))
    doc = _tamper(doc, ("weights", i, "crc32"), fixed)
    for verify_weights in (True, False):
        _fails(tmp_path, rebuild(doc, bytes(region)), "an i1 tensor", verify_weights)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_executable(tmp_path / "nope.trx")
    with pytest.raises(OSError):
        read_executable(tmp_path)


def test_error_values_are_plain_data(mlp_file, tmp_path):
    err = _fails(tmp_path, mlp_file.read_bytes()[:-1], "truncated")
    back = pickle.loads(pickle.dumps(err))  # errors cross actor boundaries
    assert type(back) is type(err) and str(back) == str(err)
    assert isinstance(err, ValueError)
