"""Settings every test shares."""

from __future__ import annotations

import os
import signal

import pytest

# A suite started in the background of a non-interactive shell (`make test &`, nohup) inherits
# SIGINT ignored, and so would every process it starts: the Ctrl-C tests would then send a
# signal nobody receives. They test what a terminal gives, so the suite restores it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
