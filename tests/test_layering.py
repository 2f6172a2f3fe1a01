"""The layering DESIGN.md promises, checked on the source."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _files(*dirs: str):
    for d in dirs:
        yield from (ROOT / d).rglob("*.py")


def test_ir_passes_and_scheduler_never_import_ray():
    for path in _files("tfrt_ray/ir", "tfrt_ray/passes", "scheduler"):
        assert "ray" not in _imports(path), f"{path} imports ray"


def test_kernels_never_see_ray_or_arrow():
    for path in _files("device_actors/kernels"):
        assert not {"ray", "pyarrow"} & _imports(path), f"{path} imports ray or pyarrow"


def test_exceptions_live_in_one_module():
    for path in _files("tfrt_ray", "device_actors", "scheduler"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                assert not any(b.endswith(("Error", "Exception")) for b in bases), (
                    f"{path}: exception class {node.name} outside tfrt_ray/errors.py"
                )


def test_environment_is_read_only_by_the_config_module():
    for path in _files("tfrt_ray", "device_actors", "scheduler"):
        if path.name == "config.py":
            continue
        assert "os.environ" not in path.read_text() or "cluster" in path.parts, path
