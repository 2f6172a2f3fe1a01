"""The ``tfrt-ray`` command line.

    tfrt-ray run model.onnx --inputs in.npz --output out.npz
    tfrt-ray run model.onnx --inputs data.parquet --output preds.parquet --batch-size 256
    tfrt-ray compile model.onnx -o model.tfrt -O 2
    tfrt-ray inspect model.onnx | model.tfrt
    tfrt-ray devices | demo | config check cluster.yaml | cluster status
    tfrt-ray submit --address http://127.0.0.1:8265 -- python train.py
    tfrt-ray jobs list | status ID | stop ID | logs ID --follow

Every command exits 0 on success. A tfrt-ray error prints ``error: <message>`` (with its
``fix:`` line) and exits 1, never a traceback unless ``--debug`` is given; a usage
mistake exits 2 (argparse); Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tfrt_ray.errors import TfrtRayError

EPILOG = """examples:
  tfrt-ray run model.onnx --inputs in.npz --output out.npz
  tfrt-ray run model.onnx --inputs data.parquet --output preds.parquet --devices 2
  tfrt-ray compile model.onnx -o model.tfrt -O 2 && tfrt-ray inspect model.tfrt
  tfrt-ray submit --address http://127.0.0.1:8265 -- python job.py
  tfrt-ray <command> --help     (each command's options and examples)
"""


def build_parser() -> argparse.ArgumentParser:
    from tfrt_ray.cli import cluster_commands, jobs, model_commands

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks instead of one-line errors")
    parser = argparse.ArgumentParser(
        prog="tfrt-ray",
        description="tfrt-ray: run, compile and inspect tensor programs on Ray, and "
        "submit jobs to a Ray cluster.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, examples: str, **kwargs) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help, description=help, parents=[common],
            epilog="examples:\n" + examples,
            formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs,
        )

    model_commands.register(add)
    cluster_commands.register(add)
    jobs.register(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        (getattr(args, "print_help", None) or parser.print_help)()
        return 2
    debug = getattr(args, "debug", False)
    try:
        return int(args.func(args) or 0)
    except TfrtRayError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `tfrt-ray inspect x.onnx | head`: the reader left
        _silence_stdout()
        return 141
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a bug or an unexpected failure
        if debug:
            raise
        print(f"error: {type(err).__name__}: {err}\n  (unexpected; rerun with --debug for "
              "the traceback)", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _version() -> str:
    from tfrt_ray._version import __version__

    return f"tfrt-ray {__version__}"


__all__ = ["build_parser", "main"]
