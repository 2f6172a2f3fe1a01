"""Ctrl-C at seeded random points of `tfrt-ray run ... --output y.parquet`, then resume.

Run by tests/cli/test_interrupt.py in a process of its own (an abort there fails the test
instead of killing the suite). One process makes every trial: `tfrt_ray.cli.main` runs in
its main thread and a timer sends the process a real SIGINT, as a terminal's Ctrl-C does.
Prints one JSON line per trial, then a summary line.

    python sigint_trials.py MODEL DATA WORKDIR TRIALS SEED
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tfrt_ray.cli import main


def _run(args: list[str], sigint_after: float | None) -> tuple[int, str]:
    """``main(args)``'s exit status and stderr, with a SIGINT ``sigint_after`` s in."""
    err = io.StringIO()
    timer = None
    rc = None
    try:
        if sigint_after is not None:  # started in here: an early signal can land in start()
            timer = threading.Timer(sigint_after, os.kill, (os.getpid(), signal.SIGINT))
            timer.start()
        with contextlib.redirect_stderr(err):
            rc = main(args)
            if timer is not None:
                timer.cancel()
                timer.join()
    except KeyboardInterrupt:  # the timer fired before main started, or just after it
        pass  # returned: before, nothing ran (a shell sees 130); after, rc is main's
    return (130 if rc is None else rc), err.getvalue()


def _committed(output: Path) -> int:
    sidecar = output.with_name(output.name + ".partial.json")
    return json.loads(sidecar.read_text())["rows"] if sidecar.exists() else 0


def main_(model: str, data: str, work: str, trials: int, seed: int) -> int:
    work_dir = Path(work)
    base = ["run", model, "--inputs", data, "--keep", "id", "--batch-size", "16",
            "--commit-every", "2"]
    ref = work_dir / "ref.parquet"
    rc, err = _run([*base, "--output", str(ref)], None)  # the first run imports the rest
    assert rc == 0, err
    start = time.perf_counter()
    rc, err = _run([*base, "--output", str(work_dir / "warm.parquet")], None)
    # Places the SIGINTs (no deadline comes from it); a run that finishes before its
    # signal shortens it, so a machine that speeds up still gets its signals mid-run.
    whole = time.perf_counter() - start
    assert rc == 0, err
    want = pq.read_table(ref)
    rnd = random.Random(seed)
    failures = 0
    for trial in range(trials):
        out = work_dir / f"y{trial}.parquet"
        at, err2 = rnd.uniform(0.0, whole), ""
        started = time.perf_counter()
        rc, err = _run([*base, "--output", str(out)], at)
        if rc == 0:  # finished before the signal: later points fall within a whole run
            whole = min(whole, time.perf_counter() - started)
        committed = _committed(out)
        record = {"trial": trial, "at_s": round(at, 3), "rc": rc, "committed": committed}
        if rc == 130 and "is complete" in err:  # Ctrl-C as the output was being finished
            ok = not out.with_name(out.name + ".partial.json").exists()
        elif rc == 130:
            again, err2 = _run([*base, "--output", str(out)], None)
            record["resume_rc"] = again
            record["resumed_after"] = committed
            ok = again == 0 and (committed == 0 or f"resumed after {committed}" in err2)
        else:
            ok = rc == 0 and not out.with_name(out.name + ".partial.json").exists()
        if out.exists():
            got = pq.read_table(out)
            ids = got.column("id").to_numpy()
            record["rows"] = got.num_rows
            ok = ok and np.array_equal(ids, want.column("id").to_numpy())  # each row once
            ok = ok and all(
                np.array_equal(np.stack(got.column(c).to_numpy(zero_copy_only=False)),
                               np.stack(want.column(c).to_numpy(zero_copy_only=False)))
                for c in want.column_names if c != "id")
        else:
            ok = False
        record["ok"] = bool(ok)
        if not ok:
            record["stderr"] = (err + err2)[-800:]
            failures += 1
        print(json.dumps(record), flush=True)
    print(json.dumps({"trials": trials, "failures": failures, "run_s": whole}), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    m, d, w, n, s = sys.argv[1:6]
    sys.exit(main_(m, d, w, int(n), int(s)))
