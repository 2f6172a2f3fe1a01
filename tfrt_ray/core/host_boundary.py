"""The boundary of a stage on a device whose values live off the host (a GPU, an
accelerator): inputs arrive as host NumPy arrays (from the transport) and outputs leave as
them; constants stay resident on the device."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tfrt_ray.core.stage import Stage
from tfrt_ray.errors import OpExecutionError, TfrtRayError


class HostBoundaryStage:
    """A compiled stage of a type whose values live off the host: inputs go ``from_host``
    before it runs, outputs ``to_host`` after; error values pass through."""

    def __init__(self, stage: Stage, from_host: Callable | None, to_host: Callable | None,
                 device_id: str) -> None:
        self.stage = stage
        self.device_id = device_id
        self._in = from_host or (lambda x: x)
        self._out = to_host or np.asarray

    @property
    def template(self) -> list:
        return self.stage.template

    @property
    def out_types(self) -> tuple:
        return self.stage.out_types

    def _move(self, fn: Callable, values: Sequence) -> list:
        out = []
        for v in values:
            if v is None or isinstance(v, TfrtRayError):
                out.append(v)
                continue
            try:
                out.append(fn(v))
            except Exception as exc:  # noqa: BLE001 - a failed copy is an error value
                out.append(OpExecutionError(f"moving a value failed: {exc}",
                                            device=self.device_id))
        return out

    def run(self, inputs: Sequence, into: dict | None = None) -> list:
        return self._move(self._out, self.stage.run(self._move(self._in, inputs)))

    def run_checked(self, inputs: Sequence, timings: dict | None = None,
                    timeline: list | None = None) -> list:
        outs = self.stage.run_checked(self._move(self._in, inputs), timings, timeline)
        return self._move(self._out, outs)

    def run_profiled(self, inputs: Sequence, timings: dict, timeline: list) -> list:
        return self.run_checked(inputs, timings, timeline)

    def writes_into(self, position: int) -> bool:
        return False  # its outputs are made on the device, then copied to the host
