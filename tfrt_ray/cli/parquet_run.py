"""``tfrt-ray run MODEL --inputs x.parquet --output y.parquet``: batch inference from the
command line (`tfrt_ray.batch` does the work), with resume and Ctrl-C handling."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from tfrt_ray.cli.models import (
    DeviceSession,
    compile_graph,
    graph_for_batch,
    load_model,
    optimize_graph,
    parse_dims,
    program_for,
    warn,
)
from tfrt_ray.errors import InputError


def _parquet_output_ok(output: str, overwrite: bool) -> None:
    """A finished output is not replaced without --overwrite; a partial one resumes, or
    with --overwrite is deleted so the run starts over."""
    partial, sidecar = Path(output + ".partial"), Path(output + ".partial.json")
    if overwrite:
        shutil.rmtree(partial, ignore_errors=True)
        sidecar.unlink(missing_ok=True)
    elif Path(output).exists() and not sidecar.exists():
        raise InputError(f"--output '{output}' already exists",
                         hint="pass --overwrite to replace it, or write to another file")


def run_parquet_command(args) -> int:
    from tfrt_ray.batch import file_identity, run_parquet
    from tfrt_ray.cli.model_commands import opt_level

    if not (is_parquet(args.inputs) and is_parquet(args.output)):
        raise InputError("batch inference reads --inputs data.parquet and writes "
                         "--output preds.parquet; give both as .parquet files")
    _parquet_output_ok(args.output, args.overwrite)
    if args.trace:
        warn("--trace is for .npz runs; ignoring it for batch inference")
    dims = parse_dims(args.dim)
    model = load_model(args.model, dims=dims,
                       batch=(args.batch_size or 256) if dims else None)
    graph, batch = graph_for_batch(model, args.batch_size)
    graph = optimize_graph(graph, opt_level(args, model), explicit=args.opt_level is not None)
    on_batch = None
    if args.stop_after or args.die_after:
        def on_batch(done: int) -> None:
            if done == args.die_after:
                os._exit(9)
            if done == args.stop_after:
                raise KeyboardInterrupt
    report = None  # set once the output is complete: a Ctrl-C after it loses nothing
    try:
        with DeviceSession(args.devices) as session:
            if args.strategy == "replicate" and len(session.device_ids) > 1:
                # One whole program per device; batches go round-robin (data parallel).
                programs = [compile_graph(graph, "place", devices=[d])
                            for d in session.device_ids]
            else:
                programs = [program_for(model, graph, args.strategy)]
            report = run_parquet(
                programs, graph, args.inputs, args.output, batch_size=batch,
                model_identity=file_identity(model.path), keep=args.keep,
                options={"opt_level": opt_level(args, model), "strategy": args.strategy},
                in_flight=args.in_flight, commit_every=args.commit_every,
                progress=args.progress, on_batch=on_batch,
            )
        resumed = f" (resumed after {report.rows_resumed})" if report.rows_resumed else ""
        print(f"wrote {report.rows} rows to {report.output}{resumed}: {report.batches} "
              f"batch(es) of {batch} in {report.seconds:.2f} s, "
              f"{report.rows_per_second:,.0f} rows/s", file=sys.stderr)
        return 0
    except KeyboardInterrupt as stop:
        report = getattr(stop, "report", report)  # InterruptedWhenDone carries it
        if report is not None:  # the output is whole: Ctrl-C came as the run finished
            print(f"interrupted as the run finished: {report.output} is complete "
                  f"({report.rows} rows)", file=sys.stderr)
        else:
            print(f"interrupted: {_committed(args.output)} row(s) are committed in "
                  f"{args.output}.partial; run the same command again to resume",
                  file=sys.stderr)
        return 130


def _committed(output: str) -> int:
    try:
        return int(json.loads(Path(output + ".partial.json").read_text())["rows"])
    except (OSError, ValueError, KeyError):
        return 0


def is_parquet(path: str | None) -> bool:
    return bool(path) and Path(path).suffix.lower() in (".parquet", ".pq")
