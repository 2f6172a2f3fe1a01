"""Every error tfrt-ray raises. One module, one base class.

Errors carry *where* (op, node, device, the user's source line) and *how to fix it*
as fields, so they can be rendered for people and inspected by programs. They are plain
values: they cross actor boundaries (Ray pickles exceptions) and flow through a graph in
place of the tensors a failed op would have produced.
"""

from __future__ import annotations

from typing import Any


class TfrtRayError(Exception):
    """Base of every tfrt-ray error.

    Attributes:
        message: what is wrong.
        op: the op name, when an op is involved (``"matmul"``).
        node: the node's name in its graph.
        device: the device id (``"host:0"``, ``"cpu:2"``).
        loc: the user's ``file:line`` where the op was created.
        inputs: the input types, as text (``"tensor<4x4xf32>"``).
        hint: how to fix it.
    """

    _FIELDS = ("op", "node", "device", "loc", "inputs", "hint")

    def __init__(
        self,
        message: str,
        *,
        op: str | None = None,
        node: str | None = None,
        device: str | None = None,
        loc: Any = None,
        inputs: Any = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.op = op
        self.node = node
        self.device = device
        self.loc = None if loc is None else str(loc)
        self.inputs = None if inputs is None else tuple(str(t) for t in inputs)
        self.hint = hint

    def with_context(self, **fields: Any) -> TfrtRayError:
        """Fills fields that are still empty; returns self."""
        for key, value in fields.items():
            if value is None or getattr(self, key, None) is not None:
                continue
            if key == "inputs":
                value = tuple(str(t) for t in value)
            elif key == "loc":
                value = str(value)
            setattr(self, key, value)
        return self

    def __str__(self) -> str:
        where = []
        if self.op:
            where.append(f"op '{self.op}'")
        if self.node:
            where.append(f"node '{self.node}'")
        if self.device:
            where.append(f"on device '{self.device}'")
        text = self.message
        if where:
            text = f"{' '.join(where)}: {text}"
        if self.loc:
            text += f"\n  at {self.loc}"
        if self.inputs is not None:
            text += f"\n  inputs: ({', '.join(self.inputs)})"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text

    def __reduce__(self):
        fields = {k: getattr(self, k) for k in self._FIELDS}
        return (_rebuild, (type(self), self.message, fields))


def _rebuild(cls: type, message: str, fields: dict) -> TfrtRayError:
    err = cls.__new__(cls)
    TfrtRayError.__init__(err, message)
    for key, value in fields.items():
        setattr(err, key, value)
    return err


class IRError(TfrtRayError):
    """The IR is malformed."""


class IRParseError(IRError):
    """IR text could not be parsed; the message names the line and column."""


class VerificationError(IRError):
    """A graph failed verification."""


class UnknownOpError(TfrtRayError, KeyError):
    """No op of that name is in the op vocabulary."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return TfrtRayError.__str__(self)


class OpAttributeError(TfrtRayError, ValueError):
    """An op attribute is missing, unknown or of the wrong type."""


class ShapeError(TfrtRayError, ValueError):
    """Input shapes are incompatible with the op."""


class DTypeError(TfrtRayError, TypeError):
    """Input dtypes are not accepted by the op."""


class KernelNotFoundError(TfrtRayError):
    """No kernel is registered for an (op, device type) pair."""


class KernelLibraryError(TfrtRayError):
    """A native kernel library (oneDNN) has no implementation for a case, or a call failed."""


class OpExecutionError(TfrtRayError):
    """A kernel failed while running."""


class InputError(TfrtRayError, ValueError):
    """The inputs given to a program do not match what it expects."""


class PlacementError(TfrtRayError):
    """Ops could not be placed onto the available devices."""


class DeviceError(TfrtRayError):
    """A device is unknown, unavailable or died."""


class ClusterError(TfrtRayError):
    """Starting, joining or talking to a cluster failed."""


class ConfigError(TfrtRayError, ValueError):
    """A configuration file or value is invalid."""


class StepTimeoutError(TfrtRayError, TimeoutError):
    """A step did not finish within its timeout."""


class CancelledError(TfrtRayError):
    """A step was cancelled before it finished."""


class ModelLoadError(TfrtRayError, ValueError):
    """A model file could not be read: it is truncated or malformed, or a file it refers to
    (external data) is missing."""


class StaticValueError(ShapeError):
    """A value the compiler must know (a shape, axes, sizes, a count) is only computed at
    run time. ONNX import raises it; `OnnxProgram` answers it by compiling one graph per
    input signature (and per value of the inputs it names)."""


class ExecutableFormatError(TfrtRayError, ValueError):
    """An executable file (`tfrt_ray.executable`) is not one, is truncated, was changed
    after it was written, or holds a program that does not verify."""


class ExecutableVersionError(ExecutableFormatError):
    """An executable file has a format version this tfrt-ray does not read."""


class DeviceLostError(DeviceError):
    """A device actor died (or its node did) while a step needed it."""


class ChannelClosedError(TfrtRayError):
    """A channel (`device_actors.channels`) was closed while something waited on it: its
    program's channels are being torn down."""


class ChannelTimeoutError(StepTimeoutError):
    """No value came through a channel (or no slot in it freed) within the deadline."""


class PeerLostError(DeviceLostError):
    """The process at the other end of a channel died."""


class TensorIndexError(TfrtRayError, IndexError):
    """A tensor index is out of range or of a kind tfrt-ray does not support."""
