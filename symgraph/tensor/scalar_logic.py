"""Scalar predicates, comparisons, bitwise logic, ``switch``, ``clip``, casts,
``identity`` and ``second``: the non-arithmetic half of the scalar ops.

Kept apart from ``scalar_ops`` (arithmetic and transcendental functions, the ``ScalarOp``
contract) so each file stays readable; ``scalar_ops`` re-exports every name here, so
``ts.Switch`` and ``ts.switch`` work as before.
"""
from __future__ import annotations

import numpy as np

from symgraph.tensor.scalar_ops import _T, ScalarOp, _f, _is_discrete
from symgraph.tensor.type import DISCRETE_DTYPES, upcast

# ---------------------------------------------------------------- predicates and logic

class _Predicate(ScalarOp):
    fname = ""

    def output_dtype(self, *dtypes):
        return "bool"

    def compute_dtypes(self, in_dtypes, out_dtypes):
        return list(in_dtypes)

    def np_impl(self, a):
        return getattr(np, self.fname)(a)

    def code(self, args, in_dtypes, out_dtypes, fresh):
        if in_dtypes[0] in DISCRETE_DTYPES:
            return [], ["False"]
        return [], [f"{_f(self.fname)}({args[0]})"]

    def grad(self, inputs, output, gz):
        return [None]


class IsNan(_Predicate):
    name = fname = "isnan"


class IsInf(_Predicate):
    name = fname = "isinf"


class Comparison(ScalarOp):
    nin = 2
    symbol = ""
    npf = None

    def output_dtype(self, *dtypes):
        return "bool"

    def compute_dtypes(self, in_dtypes, out_dtypes):
        t = upcast(*in_dtypes)
        return [t, t]

    def np_impl(self, a, b):
        return type(self).npf(a, b)

    def expr(self, args):
        return f"({args[0]} {self.symbol} {args[1]})"

    def grad(self, inputs, output, gz):
        return [None, None]


def _cmp(cls_name, name, symbol, npf):
    return type(cls_name, (Comparison,), {"name": name, "symbol": symbol, "npf": npf})


LT = _cmp("LT", "lt", "<", np.less)
GT = _cmp("GT", "gt", ">", np.greater)
LE = _cmp("LE", "le", "<=", np.less_equal)
GE = _cmp("GE", "ge", ">=", np.greater_equal)
EQ = _cmp("EQ", "eq", "==", np.equal)
NEQ = _cmp("NEQ", "neq", "!=", np.not_equal)


class _Bitwise(ScalarOp):
    nin = 2
    symbol = ""
    npf = None
    commutative = True

    def output_dtype(self, *dtypes):
        for d in dtypes:
            if d not in DISCRETE_DTYPES:
                raise TypeError(f"{self.name} needs boolean or integer inputs, got {dtypes}")
        return upcast(*dtypes)

    def np_impl(self, a, b):
        return type(self).npf(a, b)

    def expr(self, args):
        return f"({args[0]} {self.symbol} {args[1]})"

    def grad(self, inputs, output, gz):
        return [None, None]


class And(_Bitwise):
    name, symbol, npf = "and_", "&", np.bitwise_and

    def identity(self, dtype):
        if dtype not in DISCRETE_DTYPES:
            return None
        return (~np.zeros((), dtype)).item()  # every bit set: True for booleans


class Or(_Bitwise):
    name, symbol, npf = "or_", "|", np.bitwise_or

    def identity(self, dtype):
        return 0 if dtype in DISCRETE_DTYPES else None


class Xor(_Bitwise):
    name, symbol, npf = "xor", "^", np.bitwise_xor


class Invert(ScalarOp):
    name = "invert"

    def output_dtype(self, *dtypes):
        if dtypes[0] not in DISCRETE_DTYPES:
            raise TypeError(f"invert needs a boolean or integer input, got {dtypes[0]}")
        return dtypes[0]

    def np_impl(self, a):
        return np.invert(a)

    def code(self, args, in_dtypes, out_dtypes, fresh):
        if in_dtypes[0] == "bool":
            return [], [f"(not {args[0]})"]
        return [], [f"(~{args[0]})"]

    def grad(self, inputs, output, gz):
        return [None]


# ---------------------------------------------------------------- ternary and casts

class Switch(ScalarOp):
    nin = 3
    name = "switch"

    def output_dtype(self, *dtypes):
        return upcast(dtypes[1], dtypes[2])

    def compute_dtypes(self, in_dtypes, out_dtypes):
        return [in_dtypes[0], out_dtypes[0], out_dtypes[0]]

    def np_impl(self, c, a, b):
        return np.where(c, a, b)

    def expr(self, args):
        return f"({args[1]} if {args[0]} else {args[2]})"

    def grad(self, inputs, output, gz):
        T = _T()
        c, a, b = inputs
        zero = T.zeros_like(gz)
        return [None,
                None if _is_discrete(a) else T.switch(c, gz, zero),
                None if _is_discrete(b) else T.switch(c, zero, gz)]


class Clip(ScalarOp):
    """``minimum(maximum(x, lo), hi)`` exactly as numpy's ``clip``: NaN propagates (from x or
    a bound), and ``lo > hi`` gives ``hi``."""

    nin = 3
    name = "clip"

    def np_impl(self, x, lo, hi):
        return np.minimum(np.maximum(x, lo), hi)

    def code(self, args, in_dtypes, out_dtypes, fresh):
        x, lo, hi = args
        t = fresh()
        from symgraph.tensor.scalar_ops import maximum, minimum

        return [f"{t} = {maximum.expr([x, lo])}"], [minimum.expr([t, hi])]

    def grad(self, inputs, output, gz):
        T = _T()
        x, lo, hi = inputs
        dt = gz.dtype
        gx = T.mul(gz, T.cast(T.and_(T.ge(x, lo), T.le(x, hi)), dt))
        glo = T.mul(gz, T.cast(T.lt(x, lo), dt))
        ghi = T.mul(gz, T.cast(T.gt(x, hi), dt))
        return [None if _is_discrete(v) else g for v, g in zip(inputs, (gx, glo, ghi))]


class Cast(ScalarOp):
    __props__ = ("dtype",)
    name = "cast"

    def __init__(self, dtype):
        self.dtype = str(np.dtype(dtype))

    def __str__(self):
        return f"cast{{{self.dtype}}}"

    def output_dtype(self, *dtypes):
        return self.dtype

    def compute_dtypes(self, in_dtypes, out_dtypes):
        return list(in_dtypes)

    def np_impl(self, a):
        return np.asarray(a).astype(self.dtype)

    def code(self, args, in_dtypes, out_dtypes, fresh):
        if self.dtype == "bool":
            return [], [f"({args[0]} != 0)"]
        return [], [f"_sg_dt_{self.dtype}({args[0]})"]

    def grad(self, inputs, output, gz):
        (x,) = inputs
        if _is_discrete(x):
            return [None]
        return [_T().cast(gz, x.type.dtype)]


class Identity(ScalarOp):
    name = "identity"

    def np_impl(self, a):
        return np.array(a, copy=True)

    def expr(self, args):
        return args[0]

    def grad(self, inputs, output, gz):
        return [None if _is_discrete(inputs[0]) else gz]


class Second(ScalarOp):
    """Return the second argument broadcast to the first's shape (Theano's ``fill``)."""

    nin = 2
    name = "second"

    def output_dtype(self, *dtypes):
        return dtypes[1]

    def compute_dtypes(self, in_dtypes, out_dtypes):
        return [in_dtypes[0], out_dtypes[0]]

    def np_impl(self, a, b):
        return np.broadcast_to(b, np.broadcast_shapes(np.shape(a), np.shape(b))).copy()

    def expr(self, args):
        return args[1]

    def grad(self, inputs, output, gz):
        T = _T()
        x, y = inputs
        return [None if _is_discrete(x) else T.zeros_like(x),
                None if _is_discrete(y) else gz]
