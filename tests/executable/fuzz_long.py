"""The executable fuzz properties (`fuzzing.py`) for a long run; `make fuzz` runs this.

    python tests/executable/fuzz_long.py                   # 5000 examples per property
    python tests/executable/fuzz_long.py -n 50000 -p spliced -p truncated

Exits non-zero at the first property that fails, after Hypothesis prints the smallest
failing example. Each example has a deadline (a slow load is a failure, like a hang).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tests.executable.fuzzing import properties, subjects  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--examples", type=int, default=5000, help="per property")
    parser.add_argument("-p", "--property", action="append", help="run only these")
    parser.add_argument("--deadline-ms", type=float, default=5000.0, help="per example")
    args = parser.parse_args(argv)
    props = properties(args.examples, args.deadline_ms)
    names = args.property or sorted(props)
    unknown = sorted(set(names) - set(props))
    if unknown:
        parser.error(f"unknown properties {unknown}; choose from {sorted(props)}")
    try:
        for name in names:
            t0 = time.perf_counter()
            props[name]()
            print(f"{name}: {args.examples} examples passed in {time.perf_counter() - t0:.1f} s")
    finally:
        for s in subjects():
            s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
