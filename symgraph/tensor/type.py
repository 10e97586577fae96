"""TensorType: a dtype plus a broadcastable pattern (which dimensions are known to be 1).

The broadcastable pattern is static, as in Theano: a dimension broadcasts only when its
pattern says so (``T.row()``, ``x.dimshuffle('x', 0)``). Backends rely on it to generate
loops without run-time stride tricks.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.type import Type

#: dtypes symgraph supports, and their one-letter constructor prefixes
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64", "complex64", "complex128")
FLOAT_DTYPES = ("float16", "float32", "float64")
#: dtypes tensors may hold but no backend computes in (see ``symgraph.compile.float16``)
STORAGE_DTYPES = ("float16",)
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DISCRETE_DTYPES = INT_DTYPES + ("bool",)
#: dtypes whose scalar constants a compiled graph receives as arguments instead of
#: source text (fusion keeps them as inputs; the Numba backend passes them in), so graphs
#: differing only in such a constant's value share their compiled code
ARGUMENT_CONSTANT_DTYPES = DISCRETE_DTYPES + ("float32", "float64")


def _norm_dtype(dtype) -> str:
    if dtype == "floatX":
        from symgraph.config import config

        return config.floatX
    d = str(np.dtype(dtype))
    if d not in DTYPES and d not in STORAGE_DTYPES:
        raise TypeError(f"unsupported dtype {dtype!r}; supported: {DTYPES + STORAGE_DTYPES}")
    return d


class TensorType(Type):
    """Type of n-d arrays. ``TensorType('float64', (False, True))`` is a column."""

    def __init__(self, dtype, broadcastable=None, shape=None, name=None):
        # ``name`` names the type (Theano's ``TensorType(dtype, bcast, name=...)``); it
        # shows in ``str`` and takes no part in equality
        self.name = name
        self.dtype = _norm_dtype(dtype)
        if broadcastable is None:
            if shape is None:
                raise TypeError("TensorType needs broadcastable or shape")
            broadcastable = tuple(s == 1 for s in shape)
        self.broadcastable = tuple(bool(b) for b in broadcastable)
        self.numpy_dtype = np.dtype(self.dtype)

    @property
    def ndim(self) -> int:
        return len(self.broadcastable)

    def clone(self, dtype=None, broadcastable=None) -> "TensorType":
        return TensorType(dtype or self.dtype,
                          self.broadcastable if broadcastable is None else broadcastable)

    def __eq__(self, other):
        return (type(other) is TensorType and self.dtype == other.dtype
                and self.broadcastable == other.broadcastable)

    def __hash__(self):
        return hash((TensorType, self.dtype, self.broadcastable))

    def __str__(self):
        if self.name:
            return self.name
        named = {(): "scalar", (False,): "vector", (True, False): "row", (False, True): "col",
                 (False, False): "matrix", (False,) * 3: "tensor3", (False,) * 4: "tensor4"}
        name = named.get(self.broadcastable)
        if name:
            return f"TensorType({self.dtype}, {name})"
        return f"TensorType({self.dtype}, {self.broadcastable})"

    __repr__ = __str__

    # -- values -------------------------------------------------------------------
    def filter(self, data, strict: bool = False, allow_downcast=None, name: str | None = None):
        """Convert ``data`` to an ndarray of this type or raise TypeError.

        Theano's rule: ndarrays of the exact dtype pass; other data is converted when the
        conversion loses nothing (a Python list of ints into a float vector, an int32
        array into float64), or always with ``allow_downcast=True``. A Python float into
        a floatX tensor is accepted too (``allow_downcast=None``).
        """
        what = f"input {name!r}" if name else "value"
        if isinstance(data, np.ndarray) and data.dtype == self.numpy_dtype:
            arr = data
        elif strict:
            raise TypeError(f"{what}: expected an ndarray of dtype {self.dtype}, got "
                            f"{type(data).__name__}{_dtype_str(data)}")
        elif allow_downcast:
            arr = np.asarray(data, dtype=self.dtype)
        else:
            src = np.asarray(data)
            if src.dtype == self.numpy_dtype:
                arr = src
            elif src.dtype == object:
                raise TypeError(f"{what}: cannot convert {type(data).__name__} to {self}")
            elif isinstance(data, np.ndarray) or isinstance(data, np.generic):
                if np.can_cast(src.dtype, self.numpy_dtype, "safe"):
                    arr = src.astype(self.dtype)
                else:
                    raise TypeError(
                        f"{what}: expected dtype {self.dtype} ({self}), got an array of dtype "
                        f"{src.dtype}; converting would lose precision. Cast it first, or pass "
                        f"allow_input_downcast=True to function()."
                    )
            elif (allow_downcast is None and isinstance(data, float)
                  and self.dtype == _floatx()):
                arr = np.asarray(data, dtype=self.dtype)
            else:
                conv = np.asarray(src, dtype=self.dtype)
                with np.errstate(all="ignore"):
                    same = (conv.shape == src.shape) and bool(np.all(
                        (conv == src) | (np.isnan(conv.astype("complex128")) & np.isnan(src.astype("complex128")))
                        if src.dtype.kind in "fc" or conv.dtype.kind in "fc" else conv == src))
                if not same:
                    raise TypeError(
                        f"{what}: expected {self}, got {type(data).__name__} {data!r} which "
                        f"cannot be converted to {self.dtype} without loss. Pass "
                        f"allow_input_downcast=True to function() to accept it."
                    )
                arr = conv
        if arr.ndim != self.ndim:
            raise TypeError(f"{what}: expected {self.ndim}-d data ({self}), got {arr.ndim}-d "
                            f"data of shape {arr.shape}")
        for i, (b, s) in enumerate(zip(self.broadcastable, arr.shape)):
            if b and s != 1:
                raise TypeError(f"{what}: dimension {i} is broadcastable in {self} and must "
                                f"have length 1, got shape {arr.shape}")
        return arr

    def data_signature(self, data):
        a = np.asarray(data)
        if a.size <= 64:
            return (a.dtype.str, a.shape, a.tobytes())
        import hashlib

        return (a.dtype.str, a.shape, hashlib.sha1(np.ascontiguousarray(a).view(np.uint8)).hexdigest())

    def constant_str(self, data) -> str:
        a = np.asarray(data)
        if a.ndim == 0:
            return repr(a.item())
        if a.size <= 8:
            return f"TensorConstant{{{a.tolist()}}}"
        return f"TensorConstant{{{self.dtype}, shape={a.shape}}}"

    def value_zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)

    def make_variable(self, name=None):
        from symgraph.tensor.variable import TensorVariable

        return TensorVariable(self, None, None, name)


def _floatx():
    from symgraph.config import config

    return config.floatX


def _dtype_str(data):
    d = getattr(data, "dtype", None)
    return f" of dtype {d}" if d is not None else ""


def upgrade_to_float(dtype: str) -> str:
    """Output dtype of a float-valued function of ``dtype`` (Theano's rule)."""
    if dtype in FLOAT_DTYPES or dtype.startswith("complex"):
        return dtype
    if dtype in ("bool", "int8", "uint8", "int16", "uint16"):
        return "float32"
    return "float64"


def upcast(*dtypes) -> str:
    """numpy's type promotion over dtypes (bool stays bool only with all-bool inputs)."""
    return str(np.result_type(*[np.dtype(d) for d in dtypes]))
