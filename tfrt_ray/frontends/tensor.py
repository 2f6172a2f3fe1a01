"""`Tensor`: a future of an array, in the spirit of TFRT's AsyncValue.

A tensor is *ready* (holds a NumPy value), *failed* (holds the error that produced it),
*remote* (a device actor is computing or holding it), or *symbolic* (a value in a graph
being traced). Its dtype and shape are known in every state, before the value is.

Eager ops on the in-process host device run at once. Elementwise ops take a fast path
that calls NumPy directly; it is used only for dtype combinations the op's spec has
already accepted and typed exactly as NumPy does (see `_FastOps`), so both paths agree.
Anything else goes through `dispatch.apply`, which checks the op's spec first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfrt_ray.errors import TfrtRayError
from tfrt_ray.frontends.context import state
from tfrt_ray.ir.types import TensorType

_SCALARS = (int, float, bool)


class Tensor:
    """A tensor: dtype and shape now, the value when it is ready.

    Create one with `tfrt_ray.tensor`. Read it with `numpy()` or `np.asarray(t)`; both
    wait for the value and raise the op's error if it failed.

    NumPy functions (``np.sum(t, axis=1)``, ``np.exp(t)``, ``np.concatenate([t, u])``)
    read the tensors' values and return exactly what NumPy returns for those ndarrays
    (ndarrays or NumPy scalars, never tensors): ``__array_function__`` and, for ufuncs,
    ``__array__`` do that. To stay a tensor program use ``tr.sum``, ``tr.exp`` or the
    methods. Python operators with an ndarray (``arr + t``) are tensor ops. Indexing
    follows NumPy's basic indexing (see `tfrt_ray.frontends.indexing`).
    """

    __slots__ = ("_value", "_error", "_type", "_symbol", "_remote", "__weakref__")
    __array_priority__ = 100  # ndarray <op> Tensor defers to Tensor's reflected op

    def __init__(self, *_: Any, **__: Any) -> None:
        raise TypeError("create tensors with tfrt_ray.tensor(data)")

    # ---- state ------------------------------------------------------------------

    @property
    def type(self) -> TensorType:
        if self._type is None:
            self._type = TensorType.of(np.asarray(self._value))
        return self._type

    @property
    def shape(self) -> tuple:
        v = self._value
        return v.shape if v is not None else self.type.shape

    @property
    def dtype(self) -> np.dtype:
        v = self._value
        return v.dtype if v is not None else self.type.np_dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def ready(self) -> bool:
        """True once the value or the error is here (never true for a traced value)."""
        if self._remote is not None:
            return self._remote.ready()
        return self._value is not None or self._error is not None

    @property
    def device(self) -> str:
        if self._remote is not None:
            return self._remote.device_id
        return "trace" if self._symbol is not None else "host:0"

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array; waits for it, raises the op's error if it failed."""
        if self._value is None:
            from tfrt_ray.frontends import dispatch

            dispatch.resolve(self)
        return np.asarray(self._value)

    def __array__(self, dtype=None, copy=None):
        value = self.numpy()
        if dtype is not None:
            value = value.astype(dtype, copy=False)
        return value.copy() if copy else value

    def __array_function__(self, func, types, args, kwargs):
        # NumPy functions see tensors as the ndarrays they hold and return what NumPy
        # returns; tfrt-ray ops are the tr.* functions and the Tensor methods.
        return func(*_to_numpy(args), **_to_numpy(kwargs))

    def item(self):
        return self.numpy().item()

    def tolist(self):
        return self.numpy().tolist()

    def __bool__(self) -> bool:
        if self._symbol is not None:
            from tfrt_ray.frontends.tracing import branch_error

            raise branch_error(self)
        return bool(self.numpy())

    def __float__(self) -> float:
        return float(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __index__(self) -> int:
        return self.numpy().__index__()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        n = self.shape[0]
        if type(n) is not int:
            raise TypeError(f"len() of a tensor whose first dim is symbolic ({n})")
        return n

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        if self._error is not None:
            return f"<Tensor {self.type} failed: {self._error.message}>"
        if self._symbol is not None:
            return f"<Tensor {self.type} traced %{self._symbol[1]}>"
        if self._value is None:
            return f"<Tensor {self.type} pending on {self.device}>"
        body = np.array2string(np.asarray(self._value), separator=", ", threshold=20)
        return f"tensor({body}, dtype={self.type.dtype})"

    __hash__ = object.__hash__

    def __getitem__(self, index):
        from tfrt_ray.frontends.indexing import getitem

        return getitem(self, index)

    # ---- methods mirroring numpy ---------------------------------------------------

    @property
    def T(self) -> Tensor:
        return _apply("transpose", (self,), {"perm": None})

    def reshape(self, *shape) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _apply("reshape", (self,), {"shape": shape})

    def transpose(self, *perm) -> Tensor:
        if len(perm) == 1 and isinstance(perm[0], (tuple, list)):
            perm = perm[0]
        return _apply("transpose", (self,), {"perm": perm or None})

    def astype(self, dtype) -> Tensor:
        return _apply("cast", (self,), {"dtype": dtype})

    def sum(self, axis=None, keepdims=False) -> Tensor:
        return _apply("sum", (self,), {"axes": _axes(axis), "keepdims": keepdims})

    def mean(self, axis=None, keepdims=False) -> Tensor:
        return _apply("mean", (self,), {"axes": _axes(axis), "keepdims": keepdims})

    def max(self, axis=None, keepdims=False) -> Tensor:
        return _apply("max", (self,), {"axes": _axes(axis), "keepdims": keepdims})

    def min(self, axis=None, keepdims=False) -> Tensor:
        return _apply("min", (self,), {"axes": _axes(axis), "keepdims": keepdims})


def _to_numpy(obj):
    if type(obj) is Tensor:
        return obj.numpy()
    if type(obj) in (list, tuple):
        return type(obj)(_to_numpy(o) for o in obj)
    if type(obj) is dict:
        return {k: _to_numpy(v) for k, v in obj.items()}
    return obj


def _axes(axis):
    return None if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))


def _apply(op: str, inputs: tuple, attrs: dict):
    from tfrt_ray.frontends.dispatch import apply

    return apply(op, inputs, attrs)


_new = Tensor.__new__


def ready(value) -> Tensor:
    """A ready tensor holding ``value`` (an ndarray or NumPy scalar), without a copy."""
    t = _new(Tensor)
    t._value = value
    t._error = None
    t._type = None
    t._symbol = None
    t._remote = None
    return t


def failed(error: TfrtRayError, type_: TensorType) -> Tensor:
    t = _new(Tensor)
    t._value = None
    t._error = error
    t._type = type_
    t._symbol = None
    t._remote = None
    return t


def symbolic(tracer, value_id: int, type_: TensorType) -> Tensor:
    t = _new(Tensor)
    t._value = None
    t._error = None
    t._type = type_
    t._symbol = (tracer, value_id)
    t._remote = None
    return t


def as_tensors(values: list, types: list) -> list[Tensor]:
    """A step's outputs (values, or their errors) as tensors (`Step.tensors`)."""
    return [failed(v, t) if isinstance(v, TfrtRayError) else ready(v)
            for v, t in zip(values, types, strict=True)]


def remote(handle, type_: TensorType) -> Tensor:
    t = _new(Tensor)
    t._value = None
    t._error = None
    t._type = type_
    t._symbol = None
    t._remote = handle
    return t


# Per op: the operand keys (dtype, or Python scalar type) whose result the op's spec has
# accepted with exactly NumPy's result dtype. `dispatch.apply` fills it as it checks ops;
# fast paths run only keys found here, so eager results never differ from traced ones.
FAST_OK: dict[str, set] = {}
# op name -> the fast function for ``tr.<op>(a[, b])`` with no attributes.
FAST_FORWARD: dict[str, Any] = {}


def _operand_ok(x) -> bool:
    """Operands a binary operator takes; others get NotImplemented, as NumPy does."""
    return type(x) in _SCALARS or isinstance(x, (Tensor, np.ndarray, np.generic, list, tuple,
                                                 int, float, complex))


def _binary(op: str, fn):
    ok = FAST_OK.setdefault(op, set())

    def forward(a, b):
        if not _operand_ok(b):
            return NotImplemented
        if state.host_eager:
            av = a._value
            bt = type(b)
            bv = b._value if bt is Tensor else (b if bt in _SCALARS or bt is np.ndarray else None)
            if av is not None and bv is not None:
                key = (av.dtype, bt if bt in _SCALARS else bv.dtype)
                if key in ok:
                    try:
                        return ready(fn(av, bv))
                    except Exception:  # noqa: BLE001 - the checked path says what is wrong
                        pass
        return _apply(op, (a, b), {})

    def reverse(b, a):
        if not _operand_ok(a):
            return NotImplemented
        if state.host_eager:
            bv = b._value
            at = type(a)
            av = a if at in _SCALARS or at is np.ndarray else None
            if av is not None and bv is not None:
                key = (at if at in _SCALARS else av.dtype, bv.dtype)
                if key in ok:
                    try:
                        return ready(fn(av, bv))
                    except Exception:  # noqa: BLE001
                        pass
        return _apply(op, (a, b), {})

    return forward, reverse


def _unary(op: str, fn):
    ok = FAST_OK.setdefault(op, set())

    def forward(a):
        if state.host_eager:
            av = a._value
            if av is not None and (av.dtype,) in ok:
                try:
                    return ready(fn(av))
                except Exception:  # noqa: BLE001
                    pass
        return _apply(op, (a,), {})

    return forward


for _name, _op, _fn in (
    ("add", "add", np.add),
    ("sub", "sub", np.subtract),
    ("mul", "mul", np.multiply),
    ("truediv", "div", np.true_divide),
    ("floordiv", "floor_div", np.floor_divide),
    ("mod", "mod", np.mod),
    ("pow", "pow", np.power),
    ("matmul", "matmul", np.matmul),
):
    _f, _r = _binary(_op, _fn)
    setattr(Tensor, f"__{_name}__", _f)
    setattr(Tensor, f"__r{_name}__", _r)
    FAST_FORWARD[_op] = _f

for _name, _op, _fn in (
    ("lt", "less", np.less),
    ("le", "less_equal", np.less_equal),
    ("gt", "greater", np.greater),
    ("ge", "greater_equal", np.greater_equal),
    ("eq", "equal", np.equal),
    ("ne", "not_equal", np.not_equal),
    ("and", "logical_and", np.logical_and),
    ("or", "logical_or", np.logical_or),
    ("xor", "logical_xor", np.logical_xor),
):
    _f, _r = _binary(_op, _fn)
    setattr(Tensor, f"__{_name}__", _f)
    FAST_FORWARD[_op] = _f
    if _name in ("and", "or", "xor"):
        setattr(Tensor, f"__r{_name}__", _r)

Tensor.__neg__ = FAST_FORWARD["neg"] = _unary("neg", np.negative)
Tensor.__abs__ = FAST_FORWARD["abs"] = _unary("abs", np.abs)
Tensor.__invert__ = FAST_FORWARD["logical_not"] = _unary("logical_not", np.logical_not)
Tensor.__pos__ = lambda self: self


def operand_key(x) -> Any:
    """The fast-path key of one operand (see FAST_OK), or None if it has none."""
    t = type(x)
    if t is Tensor:
        v = x._value
        return None if v is None else v.dtype
    if t is np.ndarray:
        return x.dtype
    if t in _SCALARS:
        return t
    return None
