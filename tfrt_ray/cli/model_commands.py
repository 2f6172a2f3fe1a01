"""``tfrt-ray run``, ``compile`` and ``inspect``: model files on this machine."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path

import numpy as np

from tfrt_ray.cli.models import (
    STRATEGIES,
    DeviceSession,
    compile_graph,
    graph_for_batch,
    has,
    load_model,
    model_kind,
    opt_level,
    optimize_graph,
    optional,
    parse_dims,
    program_for,
    warn,
)
from tfrt_ray.cli.parquet_run import is_parquet, run_parquet_command
from tfrt_ray.errors import InputError, ModelLoadError, TfrtRayError

RUN_EXAMPLES = """\
  tfrt-ray run model.onnx --inputs in.npz --output out.npz
  tfrt-ray run model.tfrt --inputs in.npz --devices 2 --strategy place --trace trace.json
  tfrt-ray run model.onnx --inputs data.parquet --output preds.parquet --batch-size 256

.npz: one array per model input, named after it; the output .npz holds every output by
name (without --output, a summary is printed).
.parquet: batch inference. A column feeds the input of the same name (a list column of
width w is a (rows, w) array); each output becomes a column; --keep copies input columns.
The last batch is padded to --batch-size and the padded rows are dropped. The output is
written in checkpoints: rerun the same command after an interruption to resume.
"""

COMPILE_EXAMPLES = """\
  tfrt-ray compile model.onnx -o model.tfrt
  tfrt-ray compile model.onnx -o model.tfrt -O 0 --print-ir-after-all
  tfrt-ray compile model.onnx -o model.tfrt --devices 4 --strategy place --batch-size 64
"""

INSPECT_EXAMPLES = """\
  tfrt-ray inspect model.onnx          # inputs, outputs, op counts, unsupported ops
  tfrt-ray inspect model.onnx --ir     # the imported graph as text
  tfrt-ray inspect model.tfrt
"""


def register(add) -> None:
    p = add("run", "Run a model (.onnx or .tfrt) on .npz inputs, or over a Parquet file.",
            RUN_EXAMPLES)
    p.add_argument("model", help="a .onnx model or a .tfrt executable")
    p.add_argument("--inputs", metavar="FILE", help="in.npz (arrays by input name) or "
                   "data.parquet (columns by input name)")
    p.add_argument("--output", metavar="FILE", help="out.npz, or preds.parquet for Parquet "
                   "inputs")
    _placement_args(p)
    p.add_argument("--batch-size", type=int, metavar="B",
                   help="rows per step for Parquet inputs (default: the model's fixed batch "
                   "size, else 256)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing .npz --output (default: refuse)")
    p.add_argument("--trace", metavar="FILE", help="write a Chrome trace (chrome://tracing, "
                   "Perfetto) of the step and per-op device time")
    p.add_argument("-O", dest="opt_level", type=int, choices=(0, 1, 2), default=None,
                   help="optimization level of the pass pipeline (default 2 when installed)")
    p.add_argument("--keep", action="append", default=[], metavar="COLUMN",
                   help="Parquet: copy this input column to the output (repeatable)")
    p.add_argument("--in-flight", type=int, default=4, metavar="N",
                   help="Parquet: steps submitted before the oldest is awaited (default 4)")
    p.add_argument("--commit-every", type=int, default=8, metavar="N",
                   help="Parquet: batches per checkpoint of the output (default 8)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="Parquet: show a progress bar (default: when stderr is a terminal)")
    # Test hooks: stop cleanly (as Ctrl-C) or die hard (as kill -9) after N batches.
    p.add_argument("--_stop-after", dest="stop_after", type=int, help=_hidden())
    p.add_argument("--_die-after", dest="die_after", type=int, help=_hidden())
    _dim_arg(p)
    p.set_defaults(func=cmd_run)

    p = add("compile", "Compile a model into a .tfrt executable (graph, plan, metadata).",
            COMPILE_EXAMPLES)
    p.add_argument("model", help="a .onnx model (or a .tfrt to re-plan)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tfrt")
    _placement_args(p)
    p.add_argument("-O", dest="opt_level", type=int, choices=(0, 1, 2), default=2,
                   help="optimization level of the pass pipeline (default 2)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing -o file (default: refuse)")
    p.add_argument("--print-ir-after-all", action="store_true",
                   help="print the graph after every compiler pass")
    p.add_argument("--batch-size", type=int, metavar="B",
                   help="fix a symbolic batch dimension (axis 0 of the inputs) to B")
    _dim_arg(p)
    p.set_defaults(func=cmd_compile)

    p = add("inspect", "Describe a .onnx model or a .tfrt executable.", INSPECT_EXAMPLES)
    p.add_argument("file", help="a .onnx or .tfrt file")
    p.add_argument("--ir", action="store_true", help="print the imported graph's text")
    _dim_arg(p)
    p.set_defaults(func=cmd_inspect)


def _dim_arg(p) -> None:
    p.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                   help="fix a symbolic input dimension of an ONNX model, e.g. --dim seq=128 "
                   "(repeatable; the batch axis comes from --batch-size)")


def _placement_args(p) -> None:
    p.add_argument("--devices", type=int, metavar="N",
                   help="run on N device actors on a local Ray (default: in-process)")
    p.add_argument("--strategy", choices=STRATEGIES, default=None,
                   help="how the compiler spreads the program over the devices (default: "
                   "auto; for a .tfrt, its stored plan when this session has its devices)")


def _hidden() -> str:
    return argparse.SUPPRESS


# ---- run ------------------------------------------------------------------------------------


def cmd_run(args) -> int:
    model_kind(args.model)
    _refuse_output_over_inputs(args.inputs, args.output)
    if is_parquet(args.inputs) or is_parquet(args.output):
        return run_parquet_command(args)
    _refuse_existing(args.output, args.overwrite, "--output")
    if args.batch_size is not None:
        warn("--batch-size applies to Parquet inputs; running the .npz inputs as given")
    model = load_model(args.model, dims=parse_dims(args.dim),
                       opt_level=2 if args.opt_level is None else args.opt_level)
    feeds = _read_npz(args.inputs, model) if args.inputs else {}
    if model.graph is not None and model.kind == "onnx":
        model = _static_for(model, feeds)
    started = time.perf_counter()
    if model.graph is None:  # shapes computed from input values: the ONNX runner, host only
        if args.devices:
            warn("this model computes shapes from its input values; it runs in-process, "
                 "not on --devices")
        _check_names(model.input_names, feeds)
        outputs = model.onnx_program.run(feeds)
        trace_events = [_span("step", started, time.perf_counter(), "host")]
    else:
        _check_names(model.input_names, feeds)
        graph = optimize_graph(model.graph, opt_level(args, model),
                               explicit=args.opt_level is not None)
        with DeviceSession(args.devices):
            program = program_for(model, graph, args.strategy)
            if args.trace and "trace" in inspect.signature(program.run).parameters:
                values = program.run(feeds, trace=args.trace)  # the runtime's own trace
                print(f"wrote trace {args.trace}", file=sys.stderr)
                trace_events = None
            else:
                t0 = time.perf_counter()
                values = program.run(feeds, profile=bool(args.trace))
                trace_events = [_span("step", t0, time.perf_counter(), "host")]
                if args.trace:
                    trace_events += _device_events(program)
        outputs = dict(zip(graph.output_names, values, strict=True))
    if args.trace and trace_events is not None:
        _write_trace(args.trace, trace_events)
    if args.output:
        _write_npz(args.output, outputs)
        print(f"wrote {len(outputs)} output(s) to {args.output}", file=sys.stderr)
    else:
        for name, value in outputs.items():
            a = np.asarray(value)
            print(f"{name}: {a.dtype}{list(a.shape)} {np.array2string(a.ravel()[:6])}"
                  f"{' ...' if a.size > 6 else ''}")
    return 0


def _refuse_output_over_inputs(inputs: str | None, output: str | None) -> None:
    """Writing --output onto --inputs would destroy the inputs; refuse before anything runs."""
    if not inputs or not output:
        return
    a, b = Path(inputs), Path(output)
    same = a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    if same:
        raise InputError(f"--output '{output}' is the --inputs file; writing it would "
                         "destroy the inputs", hint="write the outputs to another file")


def _refuse_existing(output: str | None, overwrite: bool, flag: str) -> None:
    if output and not overwrite and Path(output).exists():
        raise InputError(f"{flag} '{output}' already exists",
                         hint="pass --overwrite to replace it, or write to another file")


def _read_npz(path: str, model=None) -> dict[str, np.ndarray]:
    """The arrays of an .npz; with ``model``, converted to its input dtypes and checked
    (`tfrt_ray.runtime.feeds`: the same rule as Parquet columns and ``prog.run``)."""
    feeds = _load_npz(path)
    graph = getattr(model, "graph", None)
    if graph is None:
        return feeds  # an ONNX model run by value: OnnxProgram.run applies the same rule
    from tfrt_ray.runtime import feeds as checks

    types = [(graph.types[v].shape, graph.types[v].np_dtype) for v in graph.inputs]
    return checks.prepare(feeds, graph.input_names, types)


def _load_npz(path: str) -> dict[str, np.ndarray]:
    if Path(path).suffix.lower() != ".npz":
        raise InputError(f"--inputs '{path}' is neither .npz nor .parquet",
                         hint="save the inputs with np.savez('in.npz', name=array, ...)")
    if not Path(path).is_file():
        raise InputError(f"inputs file '{path}' does not exist", hint="check the path")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:  # noqa: BLE001 - numpy raises zipfile, OS and value errors
        raise InputError(f"cannot read inputs '{path}': {exc}",
                         hint="give an .npz written by np.savez") from None


def _write_npz(path: str, outputs: dict) -> None:
    if Path(path).suffix.lower() != ".npz":
        raise InputError(f"--output '{path}' is not an .npz file",
                         hint="name it out.npz (or use .parquet inputs and output)")
    arrays = {}
    for name, value in outputs.items():
        if isinstance(value, list):  # an ONNX sequence output: name[0], name[1], ...
            arrays.update({f"{name}[{i}]": np.asarray(v) for i, v in enumerate(value)})
        else:
            arrays[name] = np.asarray(value)
    try:
        np.savez(path, **arrays)
    except OSError as exc:
        raise InputError(f"cannot write '{path}': {exc.strerror or exc}") from None


def _check_names(names, feeds: dict) -> None:
    missing = [n for n in names if n not in feeds]
    unknown = [n for n in feeds if n not in names]
    if missing or unknown:
        what = f"missing input(s) {missing}" if missing else f"unknown input(s) {unknown}"
        raise InputError(f"{what}; the model's inputs are {list(names)}",
                         hint="name the arrays of the .npz after the model's inputs: "
                         "np.savez('in.npz', " + ", ".join(f"{n}=..." for n in names) + ")")


def _static_for(model, feeds: dict):
    """An ONNX model with symbolic dims, re-imported for the shapes of these inputs."""
    graph = model.graph
    shapes = {}
    for name, v in zip(graph.input_names, graph.inputs, strict=True):
        t = graph.types[v]
        if not t.is_static and name in feeds and np.ndim(feeds[name]) == t.rank:
            shapes[name] = tuple(np.shape(feeds[name]))
    if not shapes:
        return model
    try:
        fixed = load_model(model.path, input_shapes=shapes, dims=model.dims)
    except TfrtRayError:
        return model  # let the run report the shape mismatch against the declared type
    return fixed if fixed.graph is not None else model


# ---- trace --------------------------------------------------------------------------------


def _span(name: str, t0: float, t1: float, pid: str, tid: str = "driver") -> dict:
    return {"name": name, "ph": "X", "ts": t0 * 1e6, "dur": (t1 - t0) * 1e6,
            "pid": pid, "tid": tid}


def _device_events(program) -> list[dict]:
    """Per device, the time of each op in the profiled step, laid end to end (the devices
    record durations, not start times)."""
    events = []
    device_ids = sorted({s.device for s in program.plan.stages} | set(program.plan.replicas))
    for device_id in device_ids:
        cursor = 0.0
        stats = program.devices[device_id].stats()
        for name, secs in stats.get("op_seconds", {}).items():
            events.append({"name": name, "ph": "X", "ts": cursor, "dur": secs * 1e6,
                           "pid": device_id, "tid": "ops (durations, end to end)"})
            cursor += secs * 1e6
    return events


def _write_trace(path: str, events: list[dict]) -> None:
    base = min((e["ts"] for e in events if e["pid"] == "host"), default=0.0)
    for e in events:
        if e["pid"] == "host":
            e["ts"] -= base
    try:
        Path(path).write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}))
    except OSError as exc:
        raise InputError(f"cannot write trace '{path}': {exc.strerror or exc}") from None
    print(f"wrote trace {path} ({len(events)} events)", file=sys.stderr)


# ---- compile and inspect --------------------------------------------------------------------


def cmd_compile(args) -> int:
    write_executable = optional("tfrt_ray.executable", "write_executable",
                                "writing .tfrt executables")
    if Path(args.output).suffix.lower() != ".tfrt":
        raise InputError(f"-o '{args.output}' must end in .tfrt",
                         hint="`tfrt-ray run` and `inspect` recognise executables by it")
    out_dir = Path(args.output).resolve().parent
    if not out_dir.is_dir():
        raise InputError(f"-o '{args.output}': directory '{out_dir}' does not exist",
                         hint="create the directory first, or write to an existing one")
    _refuse_existing(args.output, args.overwrite, "-o")
    if args.batch_size is not None and args.batch_size < 1:
        graph_for_batch(None, args.batch_size)  # raises the InputError for it
    dims = parse_dims(args.dim)
    model = load_model(args.model, dims=dims, batch=args.batch_size if dims else None)
    if model.graph is None:
        raise ModelLoadError(
            f"'{args.model}' computes shapes from its input values, so it has no single "
            "graph to compile", hint="fix its symbolic dims with --dim NAME=SIZE (e.g. "
            "--dim seq=128) and --batch-size B, export it with static shapes, or run it with "
            "`tfrt-ray run` (it is compiled per input signature there)")
    graph = model.graph
    if args.batch_size is not None:
        graph, _ = graph_for_batch(model, args.batch_size)
    graph = optimize_graph(graph, args.opt_level, print_ir=args.print_ir_after_all,
                           explicit=True)
    with DeviceSession(args.devices):
        program = compile_graph(graph, args.strategy or "auto")
        plan = program.plan
        table = program.placement_table()
    metadata = {
        "source": str(args.model), "opt_level": str(args.opt_level),
        "strategy": args.strategy or "auto", "devices": str(args.devices or 0),
        "compiled_by": "tfrt-ray compile",
        "passes": "applied" if has("tfrt_ray.passes", "optimize") else "not available",
    }
    stored = f"plan '{plan.strategy}'"
    # The compiler may rewrite the graph it plans (fusion at every -O); store that graph, so
    # the plan's node names are the graph's.
    planned = getattr(plan, "graph", None)
    if planned is not None and list(planned.input_names) == list(graph.input_names) \
            and list(planned.output_names) == list(graph.output_names):
        graph = planned
    try:
        write_executable(args.output, graph, plan=plan, metadata=metadata)
    except TfrtRayError as err:
        if "plan" not in err.message:
            raise
        warn(f"the plan cannot be stored ({err.message}); writing the graph without it "
             "(`tfrt-ray run` plans it again)")
        write_executable(args.output, graph, plan=None, metadata=metadata)
        stored = "no plan"
    print(table)
    print(f"wrote {args.output}: {len(graph.nodes)} ops, {stored}", file=sys.stderr)
    return 0


def cmd_inspect(args) -> int:
    kind = model_kind(args.file)
    if not Path(args.file).is_file():
        raise ModelLoadError(f"'{args.file}' does not exist", hint="check the path")
    if kind == "tfrt":
        describe = optional("tfrt_ray.executable", "describe_executable",
                            "reading .tfrt executables")
        text = describe(args.file)
        print(text if isinstance(text, str) else json.dumps(text, indent=1, default=str))
        return 0
    if args.dim:
        load_model(args.file, dims=parse_dims(args.dim))  # refuses unknown/malformed dims
    from tfrt_ray.cli.onnx_report import inspect_onnx

    return inspect_onnx(args.file, show_ir=args.ir)
