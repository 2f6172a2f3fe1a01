"""Compiler passes: pure ``Graph -> Graph`` functions, one per file, run in the order of
`PIPELINE` by `optimize`.

Every pass keeps the graph's signature (input and output names, order and types) and the
names and locations of the nodes it keeps; a node that replaces others takes the location
of the last of them, so an error still points at the user's line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tfrt_ray.errors import ConfigError, VerificationError
from tfrt_ray.ir.graph import Graph
from tfrt_ray.ir.types import TensorType
from tfrt_ray.ir.verifier import verify
from tfrt_ray.passes.cse import cse
from tfrt_ray.passes.dce import dce
from tfrt_ray.passes.fold_batch_norm import fold_batch_norm
from tfrt_ray.passes.fold_constants import fold_constants
from tfrt_ray.passes.fuse_bias_activation import fuse_bias_activation
from tfrt_ray.passes.fuse_elementwise import fuse_elementwise
from tfrt_ray.passes.infer_types import infer_types
from tfrt_ray.passes.simplify import simplify

Pass = Callable[[Graph], Graph]

# The one ordered list of passes. Level 1 runs the cleanup passes, level 2 all of them.
PIPELINE: list[tuple[str, Pass]] = [
    ("infer_types", infer_types),
    ("fold_constants", fold_constants),
    ("simplify", simplify),
    ("cse", cse),
    ("dce", dce),
    ("fold_batch_norm", fold_batch_norm),
    ("fuse_bias_activation", fuse_bias_activation),
    ("fuse_elementwise", fuse_elementwise),
]
CLEANUP = frozenset({"infer_types", "fold_constants", "simplify", "cse", "dce"})
LEVELS = (0, 1, 2)


def passes_for(level: int) -> list[tuple[str, Pass]]:
    """The passes `optimize` runs at ``level``, in order."""
    if level not in LEVELS:
        raise ConfigError(
            f"optimization level must be one of {LEVELS}, got {level!r}",
            hint="pass level=0 (no passes), 1 (cleanup) or 2 (cleanup and fusions)",
        )
    if level == 0:
        return []
    return [(name, fn) for name, fn in PIPELINE if level >= 2 or name in CLEANUP]


def optimize(
    graph: Graph,
    level: int = 2,
    *,
    print_ir_after_all: bool = False,
    verify_each: bool = False,
    timings: dict | None = None,
) -> Graph:
    """Runs the pass pipeline over ``graph``.

    Args:
        graph: the graph to optimize (not modified: graphs are immutable).
        level: 0 runs nothing; 1 the cleanup passes (type inference, constant folding,
            simplification, CSE, DCE); 2 also batch-norm folding and the fusions.
        print_ir_after_all: prints ``// ----- after <pass> -----`` and the graph's text
            (constants elided) to stderr after each pass; also on when
            ``tfrt_ray.config.debug.print_ir_after_all`` is.
        verify_each: runs the verifier on the input and after each pass, and checks the
            signature is kept; a failure names the pass.
        timings: if given, each pass's seconds are added to ``timings[pass name]``.

    Returns:
        The optimized graph, with the same signature as ``graph``.
    """
    from tfrt_ray.config import debug

    steps = passes_for(level)
    show = print_ir_after_all or debug.print_ir_after_all
    if verify_each:
        verify(graph)
    original = graph
    for name, fn in steps:
        t0 = time.perf_counter()
        graph = fn(graph)
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        if show:
            print(f"// ----- after {name} -----", file=sys.stderr)
            print(graph.as_text(elide_constants=True), file=sys.stderr)
        if verify_each:
            try:
                verify(graph)
                check_signature(original, graph)
            except VerificationError as err:
                err.message = f"after pass '{name}': {err.message}"
                err.args = (err.message,)
                raise
    return graph


def _refines(old: TensorType, new: TensorType) -> bool:
    """``new`` is ``old``, or ``old`` with some symbolic dims made static."""
    return (
        old.dtype == new.dtype
        and old.rank == new.rank
        and all(a == b or type(a) is not int for a, b in zip(old.shape, new.shape, strict=True))
    )


def check_signature(before: Graph, after: Graph) -> None:
    """Raises VerificationError unless ``after`` has ``before``'s signature."""
    same = (
        before.input_names == after.input_names
        and before.output_names == after.output_names
        and [before.types[v] for v in before.inputs] == [after.types[v] for v in after.inputs]
        and len(before.outputs) == len(after.outputs)
        and all(
            _refines(before.types[a], after.types[b])
            for a, b in zip(before.outputs, after.outputs, strict=True)
        )
    )
    if not same:
        raise VerificationError(
            "the graph's signature changed (input/output names, order or types)",
            hint="a pass must keep the signature; this is a compiler bug, please report it",
        )


__all__ = [
    "CLEANUP",
    "PIPELINE",
    "check_signature",
    "cse",
    "dce",
    "fold_batch_norm",
    "fold_constants",
    "fuse_bias_activation",
    "fuse_elementwise",
    "infer_types",
    "optimize",
    "passes_for",
    "simplify",
]
