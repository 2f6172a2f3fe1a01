"""The layering README.md (Layout) promises, checked on the source."""

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
    for path in _files("tfrt_ray/core/kernels"):
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


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.is_dir() or base.with_suffix(".py").is_file()


def _imported_modules(path: pathlib.Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function (``from a import b``
    imports a.b where b is a submodule, else a)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                names.add(sub if _is_module(sub) else node.module)
    return names


def _unit(module: str) -> str | None:
    """The layer a module belongs to: a subpackage (``tfrt_ray.core``,
    ``device_actors.cpu``), a top-level module (``tfrt_ray.errors``) or a package's own
    ``__init__`` (``tfrt_ray``); None outside the project."""
    parts = module.split(".")
    if parts[0] not in ("tfrt_ray", "device_actors", "scheduler"):
        return None
    if len(parts) == 1:
        return parts[0]
    if (ROOT / parts[0] / parts[1]).is_dir():
        return ".".join(parts[:2])
    if (ROOT / parts[0] / f"{parts[1]}.py").is_file():
        return ".".join(parts[:2]) if parts[0] == "tfrt_ray" else parts[0]
    return parts[0]  # a name defined in the package's __init__


def _source_unit(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    return _unit(".".join(parts)) if len(parts) > 1 else parts[0]


def _unit_graph() -> dict[str, dict[str, set[str]]]:
    """unit -> unit it imports -> the files that make the edge."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in _files("tfrt_ray", "device_actors", "scheduler"):
        src = _source_unit(path)
        for module in _imported_modules(path):
            dst = _unit(module)
            if dst is not None and dst != src:
                graph.setdefault(src, {}).setdefault(dst, set()).add(
                    str(path.relative_to(ROOT)))
    return graph


def test_front_ends_and_passes_import_nothing_from_the_device_actors():
    for path in _files("tfrt_ray/frontends", "tfrt_ray/passes"):
        bad = {m for m in _imported_modules(path) if m.split(".")[0] == "device_actors"}
        assert not bad, f"{path} imports {sorted(bad)}: use tfrt_ray.core"


def test_the_core_runtime_stands_on_the_ir_alone():
    allowed = {"tfrt_ray.core", "tfrt_ray.ir", "tfrt_ray.errors", "tfrt_ray.config"}
    for path in _files("tfrt_ray/core"):
        bad = {m for m in _imported_modules(path)
               if m.split(".")[0] in ("ray", "pyarrow") or
               (_unit(m) is not None and _unit(m) not in allowed)}
        assert not bad, f"{path} imports {sorted(bad)}"


def test_no_package_imports_one_that_imports_it_back():
    graph = _unit_graph()
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[str] = []

    def walk(unit: str) -> None:
        state[unit] = 1
        path.append(unit)
        for dst in sorted(graph.get(unit, {})):
            if state.get(dst) == 1:
                cycle = path[path.index(dst):] + [dst]
                edges = [f"{a} -> {b} ({', '.join(sorted(graph[a][b]))})"
                         for a, b in zip(cycle, cycle[1:])]
                raise AssertionError("import cycle:\n  " + "\n  ".join(edges))
            if dst not in state:
                walk(dst)
        path.pop()
        state[unit] = 2

    for unit in sorted(graph):
        if unit not in state:
            walk(unit)


def test_no_source_file_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in _files("tfrt_ray", "device_actors", "scheduler")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these by what they do: {long}"
