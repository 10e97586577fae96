"""Constructors and conversions: ``as_tensor_variable``, constants, and the Theano-named
variable constructors (``dscalar``, ``fmatrix``, ``ivector``, ``tensor4`` ...).

Python scalars mixed with tensors are *weak*: ``fvector * 0.5`` stays float32 and
``ivector + 1`` stays int32 (NEP 50 / JAX semantics); a Python float with an integer
tensor gives ``floatX``.

Example::

    >>> import symgraph.tensor as T
    >>> a, b = T.dscalars('a', 'b')
    >>> x = T.fmatrix('x')
    >>> (x * 2.0).dtype
    'float32'
"""
from __future__ import annotations

import numbers

import numpy as np

from symgraph.config import config
from symgraph.graph.basic import Variable
from symgraph.tensor.type import DISCRETE_DTYPES, TensorType
from symgraph.tensor.variable import TensorConstant, TensorVariable

_PY_SCALARS = (bool, int, float, complex)


def constant(x, name=None, dtype=None, ndim=None) -> TensorConstant:
    """A TensorConstant holding ``x`` (numpy dtype inference unless ``dtype`` is given)."""
    if dtype is None and type(x) is float:
        dtype = "float64"
    arr = np.asarray(x, dtype=dtype)
    if ndim is not None and arr.ndim != ndim:
        if arr.ndim < ndim:
            arr = arr.reshape((1,) * (ndim - arr.ndim) + arr.shape)
        else:
            raise ValueError(f"constant of ndim {arr.ndim} cannot be made {ndim}-d")
    if arr.dtype == object:
        raise TypeError(f"cannot make a tensor constant from {type(x).__name__} {x!r}")
    ttype = TensorType(str(arr.dtype), tuple(s == 1 for s in arr.shape))
    c = TensorConstant(ttype, arr, name=name)
    return c


def as_tensor_variable(x, name=None, ndim=None, dtype=None) -> Variable:
    """Return ``x`` as a symbolic tensor: variables pass through, data becomes a constant."""
    if isinstance(x, Variable):
        if not isinstance(x.type, TensorType):
            raise TypeError(f"{x} of type {x.type} is not a tensor")
        if ndim is not None and x.type.ndim != ndim:
            raise TypeError(f"expected a {ndim}-d tensor, got {x} ({x.type})")
        return x
    if isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in _flatten(x)):
        from symgraph.tensor.shape_ops import stack

        return stack([as_tensor_variable(e) for e in x])
    try:
        return constant(x, name=name, dtype=dtype, ndim=ndim)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot convert {type(x).__name__} {x!r} to a tensor: {e}") from None


def _flatten(x):
    for e in x:
        if isinstance(e, (list, tuple)):
            yield from _flatten(e)
        else:
            yield e


def weak_constant_dtype(value, partners) -> str | None:
    """Dtype a Python scalar takes next to tensors ``partners`` (None: default rules)."""
    if not partners:
        return None
    dts = [p.type.dtype for p in partners]
    floats = [d for d in dts if d.startswith("float") or d.startswith("complex")]
    ints = [d for d in dts if d in DISCRETE_DTYPES and d != "bool"]
    if isinstance(value, bool):
        return None if not dts else ("bool" if all(d == "bool" for d in dts) else None)
    if isinstance(value, numbers.Integral):
        if floats:
            return str(np.result_type(*floats))
        if ints:
            d = str(np.result_type(*ints))
            info = np.iinfo(d)
            return d if info.min <= value <= info.max else "int64"
        return "int64"
    if isinstance(value, numbers.Real):
        if floats:
            return str(np.result_type(*floats))
        return config.floatX
    return None


def as_tensor_args(*args):
    """Convert operands of an elementwise op, giving Python scalars weak dtypes."""
    partners = [a for a in args if isinstance(a, Variable)]
    out = []
    for a in args:
        if isinstance(a, Variable):
            out.append(as_tensor_variable(a))
        elif isinstance(a, _PY_SCALARS) and not isinstance(a, np.generic):
            out.append(constant(a, dtype=weak_constant_dtype(a, partners)))
        else:
            out.append(as_tensor_variable(a))
    return out


# ----------------------------------------------------------------- constructors

_PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
           "d": "float64", "c": "complex64", "z": "complex128"}


def tensor(dtype=None, broadcastable=None, name=None, shape=None) -> TensorVariable:
    """A symbolic tensor of the given dtype (default floatX) and broadcastable pattern.

    Theano order ``tensor(dtype, broadcastable)``; ``shape=(None, 1)`` also accepted.
    """
    if dtype is None:
        dtype = config.floatX
    if isinstance(dtype, (tuple, list)) and broadcastable is None:
        dtype, broadcastable = config.floatX, dtype
    if broadcastable is None and shape is not None:
        broadcastable = tuple(s == 1 for s in shape)
    if broadcastable is None:
        raise TypeError("tensor() needs a broadcastable pattern, e.g. tensor('float64', (False,))")
    return TensorType(dtype, broadcastable).make_variable(name)


def _ctor(bcast, dtype=None):
    def make(name=None, dtype=dtype):
        return TensorType(dtype or config.floatX, bcast).make_variable(name)

    return make


def _plural(single):
    """Theano's ``_multi`` rules for ``matrices``, ``dscalars`` ...:

    - an int ``n``: a list of ``n`` unnamed variables (``fvectors(3)``; a list even for 1);
    - one argument that is a string or a list: its items are the names, one variable per
      character of a string (``matrices('pt')`` -> ``p, t``); a single name gives the
      variable itself, not a list (``matrices('x')``);
    - several arguments: one variable per argument (``dscalars('a', 'b')``).
    """
    def make(*names, dtype=None):
        def one(n):
            return single(n, dtype=dtype) if dtype else single(n)

        if names and isinstance(names[0], (int, np.integer)) and not isinstance(names[0], bool):
            if len(names) != 1:
                raise TypeError(f"give a count or names, got {names!r}")
            return [one(None) for _ in range(int(names[0]))]
        if len(names) == 1:
            names = names[0]
        if not isinstance(names, (str, list, tuple)):
            raise TypeError(f"names must be strings, got {names!r}")
        if len(names) == 1:
            return one(names[0] if isinstance(names, (list, tuple)) else names)
        for n in names:
            if not isinstance(n, str):
                raise TypeError(f"names must be strings, got {n!r} in {names!r}")
        return [one(n) for n in names]

    return make


_SHAPES = {"scalar": (), "vector": (False,), "row": (True, False), "col": (False, True),
           "matrix": (False, False), "tensor3": (False,) * 3, "tensor4": (False,) * 4,
           "tensor5": (False,) * 5}
_PLURALS = {"scalar": "scalars", "vector": "vectors", "row": "rows", "col": "cols",
            "matrix": "matrices", "tensor3": "tensor3s", "tensor4": "tensor4s",
            "tensor5": "tensor5s"}

_ctors = {}
for _kind, _bc in _SHAPES.items():
    _ctors[_kind] = _ctor(_bc)
    _ctors[_PLURALS[_kind]] = _plural(_ctors[_kind])
    for _p, _dt in _PREFIX.items():
        _one = _ctor(_bc, _dt)
        _ctors[_p + _kind] = _one
        _ctors[_p + _PLURALS[_kind]] = _plural(_one)
globals().update(_ctors)

__all__ = ["constant", "as_tensor_variable", "tensor", "as_tensor_args"] + list(_ctors)
