"""Runs the ONNX backend conformance suite on tfrt-ray and prints pass/fail/skip counts.

    .venv/bin/python tests/onnx/conformance_report.py [-k REGEX] [--failures] [--xfail]

Counts cover the CPU tests only (tfrt-ray's ONNX backend is CPU). Every test runs, the
known failures of ``conformance_xfail.py`` included, so the counts are the real ones;
``--xfail`` also checks that list: the known failures that pass, the failures not in it.
Nothing is downloaded: ``ONNX_HOME`` points at a temporary folder, and the "real" model
tests run on the small models ONNX ships.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import time
import unittest
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Result(unittest.TestResult):
    def __init__(self) -> None:
        super().__init__()
        self.outcome: dict[str, tuple[str, str]] = {}

    def addSuccess(self, test):  # noqa: N802 - unittest's names
        self.outcome[test._testMethodName] = ("pass", "")

    def addFailure(self, test, err):  # noqa: N802
        self.outcome[test._testMethodName] = ("fail", _reason(err))

    def addError(self, test, err):  # noqa: N802
        self.outcome[test._testMethodName] = ("fail", _reason(err))

    def addSkip(self, test, reason):  # noqa: N802
        self.outcome[test._testMethodName] = ("skip", reason)


def _reason(err) -> str:
    exc = err[1]
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return " | ".join(line.strip() for line in text[:3])[:300]


def run(pattern: str | None = None) -> dict[str, tuple[str, str]]:
    """Test name -> (outcome, reason) for the CPU tests matching ``pattern``."""
    os.environ["ONNX_HOME"] = tempfile.mkdtemp(prefix="tfrt_ray_onnx_home_")
    sys.path.insert(0, ROOT)
    warnings.filterwarnings("ignore")
    import onnx.backend.test

    from tests.onnx.conformance_xfail import EXCLUDE
    from tfrt_ray.frontends.onnx.backend import TfrtRayBackend

    suite = onnx.backend.test.BackendTest(TfrtRayBackend, __name__)
    for exclude in EXCLUDE:
        suite.exclude(exclude)
    if pattern:
        suite.include(pattern)
    result = _Result()
    for case in suite.test_cases.values():
        for name in unittest.defaultTestLoader.getTestCaseNames(case):
            if not name.endswith("_cpu"):
                continue
            if pattern and not re.search(pattern, name):
                continue
            case(name).run(result)
    return result.outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", "--pattern", help="only tests whose name matches this regex")
    parser.add_argument("--failures", action="store_true", help="list each failing test")
    parser.add_argument("--xfail", action="store_true", help="check conformance_xfail.py")
    args = parser.parse_args()
    t0 = time.perf_counter()
    outcome = run(args.pattern)
    counts = collections.Counter(o for o, _ in outcome.values())
    if args.failures:
        for name, (o, reason) in sorted(outcome.items()):
            if o == "fail":
                print(f"FAIL {name}: {reason}")
    if args.xfail:
        from tests.onnx.conformance_xfail import XFAIL

        pats = [re.compile(p) for p in XFAIL]
        for name, (o, _) in sorted(outcome.items()):
            known = any(p.search(name) for p in pats)
            if o == "pass" and known:
                print(f"XPASS {name} (in conformance_xfail.py, but passes)")
            elif o == "fail" and not known:
                print(f"NEW FAIL {name}")
    total = sum(counts.values())
    print(
        f"ONNX backend conformance (CPU): {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['skip']} skipped, of {total} tests in {time.perf_counter() - t0:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
