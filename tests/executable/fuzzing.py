"""Fuzz properties of executable loading, shared by `test_fuzz.py` (a few hundred examples,
in CI) and `fuzz_long.py` (as many as you like).

Every property: whatever the bytes, `read_executable` returns or raises
ExecutableFormatError, never another exception; and when it returns, what it returns is
the original program (or, with ``verify_weights=False`` and bytes changed in the data
region only, the original program with other weight values).
"""

from __future__ import annotations

import atexit
import copy
import functools
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scheduler
from tests.executable.programs import mlp_graph, rebuild, split_file, weights_graph
from tfrt_ray.errors import ExecutableFormatError
from tfrt_ray.executable import read_executable, write_executable
from tfrt_ray.ir import Graph
from tfrt_ray.ir.types import DTYPES


class Subject:
    """One valid file, its parts, and a scratch folder to write variants into."""

    def __init__(self, name: str, graph: Graph, **kwargs) -> None:
        self.folder = tempfile.mkdtemp(prefix=f"fuzz-{name}-")
        atexit.register(shutil.rmtree, self.folder, True)  # subjects live for the session
        self.graph = graph
        self.path = os.path.join(self.folder, "base.trx")
        write_executable(self.path, graph, **kwargs)
        with open(self.path, "rb") as f:
            self.data = f.read()
        self.exe = read_executable(self.path)
        self.doc, self.region = split_file(self.data)
        self.data_offset = len(self.data) - len(self.region)
        program_end = 128 + len(self.data[128 : self.data_offset].rstrip(b"\0"))
        self.sections = [(0, 128), (128, program_end), (program_end, len(self.data))]
        self.paths = list(_json_paths(self.doc))
        self.leaves = sorted({repr(v): v for v in _json_leaves(self.doc)}.items())
        self._count = itertools.count()

    def load(self, data: bytes, verify_weights: bool = True):
        """read_executable of ``data``; None for ExecutableFormatError, which is fine."""
        target = os.path.join(self.folder, f"v{next(self._count) % 4}.trx")
        tmp = target + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, target)  # a fresh inode: earlier maps keep their bytes
        try:
            return read_executable(target, verify_weights=verify_weights)
        except ExecutableFormatError as err:
            assert str(err) and target in str(err)
            return None

    def same_program(self, exe, weights_may_differ: bool) -> bool:
        if not weights_may_differ:
            return exe.graph == self.graph and exe.plan_dict == self.exe.plan_dict
        text = exe.graph.as_text(elide_constants=True)
        return text == self.graph.as_text(elide_constants=True) and exe.metadata == (
            self.exe.metadata
        )

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _json_paths(v, path=()):
    yield path
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _json_paths(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _json_paths(x, (*path, i))


def _json_leaves(v):
    if isinstance(v, dict):
        for x in v.values():
            yield from _json_leaves(x)
    elif isinstance(v, list):
        for x in v:
            yield from _json_leaves(x)
    else:
        yield v


@functools.cache
def subjects() -> tuple[Subject, ...]:
    mlp = mlp_graph(width=8, layers=2)
    plan = scheduler.plan(mlp, scheduler.ClusterSpec.simulated(2))
    return (
        Subject("weights", weights_graph(), metadata={"k": "v"}),
        Subject("mlp", mlp, plan=plan),
    )


def _json_values():
    leaf = (
        st.none()
        | st.booleans()
        | st.integers(-(2**66), 2**66)
        | st.integers(-2, 40)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=8)
        | st.sampled_from(DTYPES + ("t", "f", "nan", "constant", "add", "relu"))
    )
    keys = st.sampled_from(["t", "f", "op", "name"]) | st.text(max_size=4)
    return st.recursive(
        leaf,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(keys, c, max_size=2),
        max_leaves=12,
    )


def _tamper(doc: dict, path: tuple, action: str, value) -> dict:
    doc = copy.deepcopy(doc)
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    else:
        parent[key] = value
    return doc


_JSONISH = st.text(alphabet='{}[]":,.-0123456789eEtrufalsn \\', min_size=1, max_size=3)


def properties(examples: int, deadline_ms: float | None) -> dict[str, Callable[[], None]]:
    """The fuzz properties, each running ``examples`` examples (over both subject files)."""
    conf = settings(
        max_examples=examples,
        deadline=deadline_ms,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    which = st.integers(0, len(subjects()) - 1).map(lambda i: subjects()[i])

    def index(data, n: int, section: str = "") -> int:
        return data.draw(st.integers(0, max(n - 1, 0)), label=section or "index")

    @conf
    @given(which, st.data(), st.booleans())
    def mutated_bytes(s: Subject, data, verify_weights: bool) -> None:
        """1-8 bytes set anywhere (header, program or weights, chosen alike)."""
        out = bytearray(s.data)
        for _ in range(data.draw(st.integers(1, 8), label="edits")):
            lo, hi = data.draw(st.sampled_from(s.sections), label="section")
            out[lo + index(data, hi - lo)] = data.draw(st.integers(0, 255), label="byte")
        changed = [i for i, (a, b) in enumerate(zip(out, s.data, strict=True)) if a != b]
        exe = s.load(bytes(out), verify_weights)
        if exe is None or not changed:
            assert changed or exe is not None, "an unchanged file failed to load"
            return
        in_data = min(changed) >= s.data_offset
        assert not verify_weights and in_data, f"bytes {changed[:4]} changed, no error"
        assert s.same_program(exe, weights_may_differ=True)

    @conf
    @given(which, st.data(), st.booleans())
    def truncated(s: Subject, data, verify_weights: bool) -> None:
        """The file cut anywhere."""
        assert s.load(s.data[: index(data, len(s.data))], verify_weights) is None

    @conf
    @given(which, st.data(), st.integers(0, 70), st.binary(min_size=1, max_size=70))
    def spliced(s: Subject, data, drop: int, garbage: bytes) -> None:
        """Garbage in place of (or inserted among) the bytes anywhere."""
        lo, hi = data.draw(st.sampled_from(s.sections), label="section")
        at = lo + index(data, hi - lo + 1)
        out = s.data[:at] + garbage + s.data[at + drop :]
        exe = s.load(out)
        assert exe is None or out == s.data, "spliced garbage loaded"

    @conf
    @given(which, st.data(), st.sampled_from(["replace", "delete", "duplicate", "leaf"]))
    def tampered_program(s: Subject, data, action: str) -> None:
        """A field of the program replaced, deleted or duplicated; checksums recomputed."""
        path = data.draw(st.sampled_from(s.paths), label="path")
        if action == "leaf":  # a value from elsewhere in the file: a near miss
            value = data.draw(st.sampled_from(s.leaves), label="value")[1]
        else:
            value = data.draw(_json_values(), label="value")
        if action in ("delete", "duplicate") and not path:
            action = "replace"
        doc = _tamper(s.doc, path, action, value)
        exe = s.load(rebuild(doc, s.region))
        if exe is not None:  # rare: an equivalent program; it must be usable
            exe.graph.as_text()
            exe.plan()

    @conf
    @given(which, st.data())
    def mutated_program_text(s: Subject, data) -> None:
        """JSON-ish characters written into the program's text; checksums recomputed."""
        raw = bytearray(s.data[128 : s.data_offset].rstrip(b"\0"))
        for _ in range(data.draw(st.integers(1, 4), label="edits")):
            at = index(data, len(raw))
            new = data.draw(_JSONISH | st.text(min_size=1, max_size=2), label="text")
            new = new.encode()
            raw[at : at + len(new)] = new
        exe = s.load(rebuild(bytes(raw), s.region))
        if exe is not None:
            exe.graph.as_text()
            exe.plan()

    return {
        "mutated_bytes": mutated_bytes,
        "truncated": truncated,
        "spliced": spliced,
        "tampered_program": tampered_program,
        "mutated_program_text": mutated_program_text,
    }
