"""Fixtures for the device plugin tests: the example plugin pip-installed for the session."""

from __future__ import annotations

import importlib
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "example_device_plugin"
DIST = "tfrt-ray-example-device"


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                          timeout=240)


@pytest.fixture(scope="session")
def toy_plugin(tmp_path_factory):
    """The example plugin installed with pip into this environment (uninstalled at the end);
    yields its module, loaded through the plugin API.

    Offline first (``--no-build-isolation``: the environment's setuptools builds it; a
    setuptools older than 70.1 also needs the ``wheel`` package); if that cannot build, pip's
    isolated build (which fetches setuptools from the package index)."""
    # Built from a copy, so the build leaves nothing in the source tree.
    src = tmp_path_factory.mktemp("plugin") / EXAMPLE.name
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    base = ("install", "--no-deps", "-q", "--disable-pip-version-check")
    done = _pip(*base, "--no-build-isolation", str(src))
    if done.returncode != 0:
        done = _pip(*base, str(src))
    if done.returncode != 0:
        pytest.skip(f"could not pip install the example plugin:\n{done.stderr[-2000:]}")
    importlib.invalidate_caches()
    try:
        from tfrt_ray.core import device_types as plugins

        types = plugins.load_plugins()
        assert "toy" in types, f"the installed plugin was not found: {sorted(types)}"
        yield importlib.import_module("tfrt_ray_example_device")
    finally:
        _pip("uninstall", "-y", "-q", DIST)
