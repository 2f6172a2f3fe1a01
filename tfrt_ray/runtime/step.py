"""`Step`: the futures of one submitted step of a `Program`, and how they are fetched."""

from __future__ import annotations

from typing import Any

import numpy as np

from tfrt_ray.errors import CancelledError, TfrtRayError


class Step:
    """The futures of one submitted step. It keeps its inputs, so the program can run it
    again if a device dies before its results are read."""

    def __init__(self, program: Any, arrays: list, parts: list[list[Any]], epoch: int,
                 tag: int) -> None:
        self.program = program
        self.arrays = arrays
        self.parts = parts  # per slice: one future (value or ObjectRef) per graph output
        self.epoch = epoch
        self.tag = tag  # names the step's shared-memory blocks (kept when it is re-run)
        self.cancelled = False

    def result(self, timeout: float | None = None) -> list[np.ndarray]:
        """The outputs as NumPy arrays, in the graph's output order. Raises the error of
        the first failed output; `StepTimeoutError` after ``timeout`` seconds."""
        values = self.program._resolve(self, timeout)
        for v in values:
            if isinstance(v, TfrtRayError):
                raise v
        return values

    def outputs(self, timeout: float | None = None) -> dict[str, np.ndarray]:
        return dict(zip(self.program.output_names, self.result(timeout)))

    @property
    def transfers(self) -> list[tuple[tuple[int, str, str], ...]]:
        """What the step moves across device boundaries, per slice: (value, source device
        or "input", destination device), as the program's schedule lowered it."""
        return [sl.transfers for sl in self.program.schedule]

    def tensors(self, timeout: float | None = None) -> list:
        """The outputs as the front end's tensors: each is ready, or failed with its own
        error, so one failed output does not hide its siblings. For programs made by
        `tfrt_ray.compile` and `tfrt_ray.load`, which give the program its tensor type."""
        if self.program.as_tensors is None:
            raise TfrtRayError(
                "this program hands back arrays only: it was not made by tr.compile or "
                "tr.load", hint="read the outputs with result() or outputs()")
        values = self.program._resolve(self, timeout)
        graph = self.program.full_graph
        return self.program.as_tensors(values, [graph.types[v] for v in graph.outputs])


def cancelled_error() -> CancelledError:
    return CancelledError(
        "the step was cancelled (Program.cancel) before its results were read",
        hint="submit it again",
    )


def is_ref(x: Any) -> bool:
    return type(x).__name__ == "ObjectRef"


def fetched(parts: list[list[Any]], timeout: float | None) -> list[list[Any]]:
    """``parts`` with every ObjectRef replaced by its value, fetched in one round trip."""
    from tfrt_ray.runtime.devices import fetch_values

    refs = [f for part in parts for f in part if is_ref(f)]
    got = iter(fetch_values(refs, timeout)) if refs else iter(())
    return [[next(got) if is_ref(f) else f for f in part] for part in parts]
