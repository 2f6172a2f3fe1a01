"""A file written by one process reads back equal in another, and runs the same."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tests.executable.programs import rich_graph, rich_inputs, run
from tfrt_ray.executable import read_executable, write_executable

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def _child(code: str) -> None:
    head = (
        "import numpy as np\nfrom tests.executable.programs import rich_graph, rich_inputs, run\n"
    )
    subprocess.run([sys.executable, "-c", head + code], check=True, cwd=ROOT, timeout=100)


def test_written_in_a_child_read_here(tmp_path):
    path = tmp_path / "child.trx"
    _child(
        "from tfrt_ray.executable import write_executable\n"
        f"write_executable({str(path)!r}, rich_graph(), metadata={{'by': 'child'}})\n"
    )
    exe = read_executable(path)
    assert exe.graph == rich_graph()
    assert exe.metadata == {"by": "child"}
    got, want = run(exe.graph, rich_inputs()), run(rich_graph(), rich_inputs())
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


def test_written_here_read_in_a_child(tmp_path):
    path, out = tmp_path / "parent.trx", tmp_path / "out.npz"
    write_executable(path, rich_graph())
    _child(
        "from tfrt_ray.executable import read_executable\n"
        f"g = read_executable({str(path)!r}).graph\n"
        "assert g == rich_graph(), 'graphs differ'\n"
        f"np.savez({str(out)!r}, *run(g, rich_inputs()))\n"
    )
    with np.load(out) as got:
        want = run(rich_graph(), rich_inputs())
        assert len(got.files) == len(want)
        for i, w in enumerate(want):
            np.testing.assert_array_equal(got[f"arr_{i}"], w)
            assert got[f"arr_{i}"].dtype == w.dtype
