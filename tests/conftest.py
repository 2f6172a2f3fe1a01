"""Settings every test shares."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _hash_cache_of_the_session(tmp_path_factory):
    """Batch runs cache file hashes; the suite keeps its cache out of the user's home
    (subprocesses inherit the variable)."""
    before = os.environ.get("TFRT_RAY_HASH_CACHE")
    os.environ["TFRT_RAY_HASH_CACHE"] = str(tmp_path_factory.mktemp("hash-cache") / "h.json")
    yield
    if before is None:
        os.environ.pop("TFRT_RAY_HASH_CACHE", None)
    else:
        os.environ["TFRT_RAY_HASH_CACHE"] = before
