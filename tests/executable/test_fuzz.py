"""Fuzzed files (bytes mutated, truncated, garbage spliced in; programs tampered with and
checksums recomputed) end in ExecutableFormatError, never another exception or a hang.

About 250 examples in all here; `fuzz_long.py` runs the same properties for longer.
"""

from __future__ import annotations

import pytest

from tests.executable.fuzzing import properties, subjects

PROPERTIES = properties(examples=50, deadline_ms=2000)


@pytest.fixture(scope="module", autouse=True)
def _clean_up():
    yield
    for s in subjects():
        s.close()
    subjects.cache_clear()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_fuzzed_file_ends_in_the_typed_error(name):
    PROPERTIES[name]()
