"""The scheduler never imports Ray (README.md, Layout)."""

import ast
import pathlib
import subprocess
import sys

SCHEDULER = pathlib.Path(__file__).resolve().parents[2] / "scheduler"


def _imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_scheduler_module_imports_ray():
    files = sorted(SCHEDULER.rglob("*.py"))
    assert files
    for path in files:
        for name in _imported_modules(path):
            assert name.split(".")[0] != "ray", f"{path.name} imports {name}"
        assert '__import__("ray' not in path.read_text()
        assert 'import_module("ray' not in path.read_text()


def test_importing_and_planning_loads_no_ray():
    code = (
        "import sys, scheduler\n"
        "from scheduler.synthetic import random_layered_graph\n"
        "g = random_layered_graph(50, 4)\n"
        "scheduler.plan(g, scheduler.ClusterSpec.simulated(4))\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=SCHEDULER.parent)
