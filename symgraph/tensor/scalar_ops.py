"""Scalar operations: the per-element functions that ``Elemwise`` maps over arrays.

Each ScalarOp knows four things:
- ``output_dtype(*dtypes)``: its dtype rule (numpy promotion; float functions of ints use
  Theano's ``upgrade_to_float``);
- ``np_impl(*arrays)``: the numpy reference on whole arrays;
- ``expr(args)``: a target-neutral expression template used by code generators. Function
  names are the fixed vocabulary of ``MATH_FUNCS``; each backend binds them (``np.exp``
  on CPU, ``math.exp`` on CUDA). Arguments arrive already cast to ``compute_dtypes``;
- ``grad(inputs, output, gz)``: tensor-level gradient expressions (None = no gradient,
  e.g. for integer or boolean inputs).

and carries what backends need to know about it, so no backend keeps a table of op
names: ``identity(dtype)`` (what a reduction starts from), ``reduces_empty`` and
``expensive`` (a libm call: worth several cores on a large loop). The text backends
generate from the templates is rendered by ``symgraph.link.scalar_render``.

Example::

    >>> from symgraph.tensor.scalar_ops import add
    >>> add.expr(['a', 'b'])
    '(a + b)'
"""
from __future__ import annotations

import numpy as np

from symgraph.tensor.type import DISCRETE_DTYPES, upcast, upgrade_to_float

#: function names code generators must bind (``_sg_<name>``)
MATH_FUNCS = ("exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "arcsin",
              "arccos", "arctan", "sinh", "cosh", "floor", "ceil", "rint", "isnan", "isinf",
              "fabs", "log2", "log10", "exp2", "trunc", "arctan2", "erf")


def _f(name):
    return f"_sg_{name}"


class ScalarOp:
    """Base class: subclasses set ``nin`` (None = variadic) and implement the hooks."""

    nin: int | None = 1
    nout = 1
    __props__: tuple = ()
    name = "scalar"
    #: True if the op is its own identity element-wise reorderable (add, mul) for printing
    commutative = False
    #: True for a function that costs tens of cycles per element (a libm call compilers
    #: do not vectorize: exp, log, the trigonometric functions...): a large loop of it is
    #: compute-bound, so backends may split it over several cores; a loop of plain
    #: arithmetic is bound by memory bandwidth, which one core nearly saturates.
    expensive = False
    #: whether reducing no elements gives ``identity`` (numpy's sum, prod, all, any) or is
    #: an error (max, min: numpy has no answer for the max of nothing)
    reduces_empty = True

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        if self.__props__:
            return f"{self.name}{{{','.join(str(p) for p in self._props())}}}"
        return self.name

    __repr__ = __str__

    def cache_key(self) -> str:
        return f"{type(self).__qualname__}{self._props()!r}"

    # dtype rules -------------------------------------------------------------------
    def output_dtypes(self, *dtypes) -> list[str]:
        return [self.output_dtype(*dtypes)]

    def output_dtype(self, *dtypes) -> str:
        return upcast(*dtypes)

    def compute_dtypes(self, in_dtypes, out_dtypes) -> list[str]:
        """Dtypes the inputs are cast to before ``expr`` (default: the output dtype)."""
        return [out_dtypes[0]] * len(in_dtypes)

    # implementations ---------------------------------------------------------------
    def np_impl(self, *args):  # pragma: no cover - abstract
        raise NotImplementedError

    def expr(self, args: list[str]) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def code(self, args, in_dtypes, out_dtypes, fresh):
        """Statements and output expressions; ops override it when one expression is not
        enough (a guard, a temporary). A fused ``Composite``'s steps are rendered by the
        backends' shared renderer (``symgraph.link.scalar_render``)."""
        return [], [self.expr(args)]

    def identity(self, dtype: str):
        """The neutral element of this binary op in ``dtype`` (``op(identity, x) == x``), or
        None: what a reduction with the op starts from, on every backend."""
        return None

    def grad(self, inputs, output, gz):  # pragma: no cover - abstract
        raise NotImplementedError(f"gradient of scalar op {self} not implemented")


def _T():
    import symgraph.tensor.math as m

    return m


def _is_discrete(v) -> bool:
    return v.type.dtype in DISCRETE_DTYPES


# ------------------------------------------------------------------- arithmetic (n-ary)

class Add(ScalarOp):
    nin = None
    name = "add"
    commutative = True

    def np_impl(self, *args):
        out = args[0]
        for a in args[1:]:
            out = out + a
        return out

    def expr(self, args):
        return "(" + " + ".join(args) + ")"

    def identity(self, dtype):
        return 0

    def grad(self, inputs, output, gz):
        return [None if _is_discrete(x) else gz for x in inputs]


class Mul(ScalarOp):
    nin = None
    name = "mul"
    commutative = True

    def np_impl(self, *args):
        out = args[0]
        for a in args[1:]:
            out = out * a
        return out

    def expr(self, args):
        return "(" + " * ".join(args) + ")"

    def identity(self, dtype):
        return 1

    def grad(self, inputs, output, gz):
        T = _T()
        res = []
        for i, x in enumerate(inputs):
            if _is_discrete(x):
                res.append(None)
                continue
            others = [y for j, y in enumerate(inputs) if j != i]
            res.append(T.mul(gz, *others) if others else gz)
        return res


class Sub(ScalarOp):
    nin = 2
    name = "sub"

    def output_dtype(self, *dtypes):
        if all(d == "bool" for d in dtypes):
            raise TypeError(f"sub: cannot subtract booleans (input dtypes {dtypes}), as in "
                            f"numpy; use xor (^) or cast to an integer dtype first")
        return upcast(*dtypes)

    def np_impl(self, a, b):
        return a - b

    def expr(self, args):
        return f"({args[0]} - {args[1]})"

    def grad(self, inputs, output, gz):
        T = _T()
        x, y = inputs
        return [None if _is_discrete(x) else gz, None if _is_discrete(y) else T.neg(gz)]


class TrueDiv(ScalarOp):
    nin = 2
    name = "true_div"

    def output_dtype(self, *dtypes):
        return upgrade_to_float(upcast(*dtypes))

    def np_impl(self, a, b):
        return np.true_divide(a, b)

    def expr(self, args):
        return f"({args[0]} / {args[1]})"

    def grad(self, inputs, output, gz):
        T = _T()
        x, y = inputs
        gx = None if _is_discrete(x) else T.true_div(gz, y)
        gy = None if _is_discrete(y) else T.neg(T.true_div(T.mul(gz, x), T.sqr(y)))
        return [gx, gy]


def _int8_for_bools(dtypes) -> str:
    """numpy's floor_divide/mod/power have no bool loop: booleans give int8."""
    if all(d == "bool" for d in dtypes):
        return "int8"
    return upcast(*dtypes)


class IntDiv(ScalarOp):
    nin = 2
    name = "int_div"

    def output_dtype(self, *dtypes):
        return _int8_for_bools(dtypes)

    def np_impl(self, a, b):
        return np.floor_divide(a, b)

    def expr(self, args):
        return f"({args[0]} // {args[1]})"

    def grad(self, inputs, output, gz):
        T = _T()
        return [None if _is_discrete(x) else T.zeros_like(x) for x in inputs]


class Mod(ScalarOp):
    nin = 2
    name = "mod"

    def output_dtype(self, *dtypes):
        return _int8_for_bools(dtypes)

    def np_impl(self, a, b):
        return np.mod(a, b)

    def expr(self, args):
        return f"({args[0]} % {args[1]})"

    def grad(self, inputs, output, gz):
        T = _T()
        x, y = inputs
        gx = None if _is_discrete(x) else gz
        gy = None if _is_discrete(y) else T.neg(T.mul(gz, T.int_div(x, y)))
        return [gx, gy]


class Pow(ScalarOp):
    nin = 2
    name = "pow"
    expensive = True

    def output_dtype(self, *dtypes):
        return _int8_for_bools(dtypes)

    def np_impl(self, a, b):
        return np.power(a, b)

    def expr(self, args):
        return f"({args[0]} ** {args[1]})"

    def grad(self, inputs, output, gz):
        T = _T()
        x, y = inputs
        gx = None if _is_discrete(x) else T.mul(gz, y, T.pow(x, T.sub(y, 1)))
        gy = None if _is_discrete(y) else T.mul(gz, output, T.log(x))
        return [gx, gy]


class _Extremum(ScalarOp):
    """maximum / minimum: NaN-propagating like numpy; the gradient goes to the winner
    (to ``x`` on ties)."""

    nin = 2
    commutative = True
    reduces_empty = False
    #: (numpy function, comparison keeping ``a``, ``T`` ops routing the gradient to x, y)
    np_fn = cmp = x_wins = y_wins = None
    #: True for maximum: its identity is the dtype's lowest value, else the highest
    starts_low = True

    def np_impl(self, a, b):
        return self.np_fn(a, b)

    def identity(self, dtype):
        dt = np.dtype(dtype)
        if dt.kind == "b":
            return not self.starts_low
        if dt.kind == "f":
            return -np.inf if self.starts_low else np.inf
        if dt.kind in "iu":
            info = np.iinfo(dt)
            return int(info.min if self.starts_low else info.max)
        return None  # complex numbers have no order

    def expr(self, args):
        a, b = args
        return f"({a} if {a} {self.cmp} {b} or {a} != {a} else {b})"

    def grad(self, inputs, output, gz):
        T = _T()
        x, y = inputs
        gx = None if _is_discrete(x) else T.mul(gz, T.cast(getattr(T, self.x_wins)(x, y), gz.dtype))
        gy = None if _is_discrete(y) else T.mul(gz, T.cast(getattr(T, self.y_wins)(x, y), gz.dtype))
        return [gx, gy]


class Maximum(_Extremum):
    name = "maximum"
    np_fn, cmp, x_wins, y_wins = staticmethod(np.maximum), ">=", "ge", "lt"


class Minimum(_Extremum):
    name = "minimum"
    starts_low = False
    np_fn, cmp, x_wins, y_wins = staticmethod(np.minimum), "<=", "le", "gt"


class ArcTan2(ScalarOp):
    nin = 2
    name = "arctan2"
    expensive = True

    def output_dtype(self, *dtypes):
        return upgrade_to_float(upcast(*dtypes))

    def np_impl(self, a, b):
        return np.arctan2(a, b)

    def expr(self, args):
        return f"{_f('arctan2')}({args[0]}, {args[1]})"

    def grad(self, inputs, output, gz):
        T = _T()
        y, x = inputs
        den = T.add(T.sqr(x), T.sqr(y))
        return [None if _is_discrete(y) else T.true_div(T.mul(gz, x), den),
                None if _is_discrete(x) else T.neg(T.true_div(T.mul(gz, y), den))]


# ------------------------------------------------------------------------ unary

class UnaryFloat(ScalarOp):
    """A float-valued function of one argument (ints are upgraded to float); a libm call
    unless a subclass says otherwise (``sqrt`` is one instruction)."""

    nin = 1
    fname = ""
    expensive = True

    def output_dtype(self, *dtypes):
        return upgrade_to_float(dtypes[0])

    def np_impl(self, a):
        return getattr(np, self.fname)(a)

    def expr(self, args):
        return f"{_f(self.fname)}({args[0]})"


def _unary(cls_name, fname, grad_fn, name=None, expensive=True):
    def grad(self, inputs, output, gz):
        (x,) = inputs
        if _is_discrete(x):
            return [None]
        return [grad_fn(_T(), x, output, gz)]

    cls = type(cls_name, (UnaryFloat,), {"fname": fname, "name": name or fname, "grad": grad,
                                         "expensive": expensive})
    return cls


# Python floats: weak constants, so float32 gradients stay float32
_LN2 = float(np.log(2.0))
_LN10 = float(np.log(10.0))
_TWO_OVER_SQRT_PI = float(2.0 / np.sqrt(np.pi))

Exp = _unary("Exp", "exp", lambda T, x, z, gz: T.mul(gz, z))
Exp2 = _unary("Exp2", "exp2", lambda T, x, z, gz: T.mul(gz, z, _LN2))
Log = _unary("Log", "log", lambda T, x, z, gz: T.true_div(gz, x))
Log2 = _unary("Log2", "log2", lambda T, x, z, gz: T.true_div(gz, T.mul(x, _LN2)))
Log10 = _unary("Log10", "log10", lambda T, x, z, gz: T.true_div(gz, T.mul(x, _LN10)))
Log1p = _unary("Log1p", "log1p", lambda T, x, z, gz: T.true_div(gz, T.add(x, 1)))
Expm1 = _unary("Expm1", "expm1", lambda T, x, z, gz: T.mul(gz, T.add(z, 1)))
Sqrt = _unary("Sqrt", "sqrt", lambda T, x, z, gz: T.true_div(T.mul(gz, 0.5), z),
              expensive=False)
Sin = _unary("Sin", "sin", lambda T, x, z, gz: T.mul(gz, T.cos(x)))
Cos = _unary("Cos", "cos", lambda T, x, z, gz: T.neg(T.mul(gz, T.sin(x))))
Tan = _unary("Tan", "tan", lambda T, x, z, gz: T.mul(gz, T.add(1, T.sqr(z))))
Tanh = _unary("Tanh", "tanh", lambda T, x, z, gz: T.mul(gz, T.sub(1, T.sqr(z))))
Sinh = _unary("Sinh", "sinh", lambda T, x, z, gz: T.mul(gz, T.cosh(x)))
Cosh = _unary("Cosh", "cosh", lambda T, x, z, gz: T.mul(gz, T.sinh(x)))
ArcSin = _unary("ArcSin", "arcsin",
                lambda T, x, z, gz: T.true_div(gz, T.sqrt(T.sub(1, T.sqr(x)))))
ArcCos = _unary("ArcCos", "arccos",
                lambda T, x, z, gz: T.neg(T.true_div(gz, T.sqrt(T.sub(1, T.sqr(x))))))
ArcTan = _unary("ArcTan", "arctan", lambda T, x, z, gz: T.true_div(gz, T.add(1, T.sqr(x))))
Erf = _unary("Erf", "erf", lambda T, x, z, gz: T.mul(
    gz, _TWO_OVER_SQRT_PI, T.exp(T.neg(T.sqr(x)))))
Erf.np_impl = lambda self, a: _np_erf(a)


def _np_erf(a):
    import math

    return np.vectorize(math.erf, otypes=[np.asarray(a).dtype if np.asarray(a).dtype.kind == "f"
                                          else np.float64])(a)


def _no_bool(name, dtype, hint):
    if dtype == "bool":
        raise TypeError(f"{name}: not defined for a boolean input, as in numpy; {hint}")
    return dtype


class Neg(ScalarOp):
    name = "neg"

    def output_dtype(self, *dtypes):
        return _no_bool("neg", dtypes[0], "use invert (~) or cast to an integer dtype first")

    def np_impl(self, a):
        return np.negative(a)

    def expr(self, args):
        return f"(-{args[0]})"

    def grad(self, inputs, output, gz):
        return [None if _is_discrete(inputs[0]) else _T().neg(gz)]


class Abs(ScalarOp):
    name = "abs"

    def np_impl(self, a):
        return np.abs(a)

    def expr(self, args):
        return f"abs({args[0]})"

    def grad(self, inputs, output, gz):
        (x,) = inputs
        return [None if _is_discrete(x) else _T().mul(gz, _T().sgn(x))]


class Sgn(ScalarOp):
    name = "sgn"

    def output_dtype(self, *dtypes):
        return _no_bool("sgn", dtypes[0], "cast to an integer dtype first")

    def np_impl(self, a):
        return np.sign(a)

    def expr(self, args):
        a = args[0]
        return f"((0 < {a}) - ({a} < 0))"

    def code(self, args, in_dtypes, out_dtypes, fresh):
        a = args[0]
        t = out_dtypes[0]
        return [], [f"({_lit(1, t)} if {a} > 0 else ({_lit(-1, t)} if {a} < 0 else {a}))"]

    def grad(self, inputs, output, gz):
        (x,) = inputs
        return [None if _is_discrete(x) else _T().zeros_like(x)]


class Sqr(ScalarOp):
    name = "sqr"

    def np_impl(self, a):
        return a * a

    def expr(self, args):
        return f"({args[0]} * {args[0]})"

    def grad(self, inputs, output, gz):
        (x,) = inputs
        return [None if _is_discrete(x) else _T().mul(gz, 2, x)]


class Reciprocal(ScalarOp):
    name = "reciprocal"

    def output_dtype(self, *dtypes):
        return upgrade_to_float(dtypes[0])

    def np_impl(self, a):
        return np.reciprocal(a)

    def code(self, args, in_dtypes, out_dtypes, fresh):
        return [], [f"({_lit(1, out_dtypes[0])} / {args[0]})"]

    def grad(self, inputs, output, gz):
        (x,) = inputs
        return [None if _is_discrete(x) else _T().neg(_T().mul(gz, _T().sqr(output)))]


class Sigmoid(UnaryFloat):
    name = "sigmoid"

    def np_impl(self, a):
        a = np.asarray(a)
        with np.errstate(over="ignore"):
            return (1.0 / (1.0 + np.exp(-a))).astype(a.dtype if a.dtype.kind == "f" else "float64")

    def code(self, args, in_dtypes, out_dtypes, fresh):
        t = out_dtypes[0]
        return [], [f"({_lit(1, t)} / ({_lit(1, t)} + {_f('exp')}(-{args[0]})))"]

    def grad(self, inputs, output, gz):
        (x,) = inputs
        T = _T()
        return [None if _is_discrete(x) else T.mul(gz, output, T.sub(1, output))]


class Softplus(UnaryFloat):
    """log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) so it never overflows."""

    name = "softplus"

    def np_impl(self, a):
        a = np.asarray(a)
        return np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))

    def code(self, args, in_dtypes, out_dtypes, fresh):
        a = args[0]
        t = out_dtypes[0]
        z = _lit(0, t)
        return [], [f"(({a} if {a} > {z} else {z}) + {_f('log1p')}({_f('exp')}(-abs({a}))))"]

    def grad(self, inputs, output, gz):
        (x,) = inputs
        T = _T()
        return [None if _is_discrete(x) else T.mul(gz, T.sigmoid(x))]


class _Rounding(ScalarOp):
    fname = ""

    def output_dtype(self, *dtypes):
        return upgrade_to_float(dtypes[0])

    def np_impl(self, a):
        return getattr(np, self.fname)(a)

    def expr(self, args):
        return f"{_f(self.fname)}({args[0]})"

    def grad(self, inputs, output, gz):
        (x,) = inputs
        return [None if _is_discrete(x) else _T().zeros_like(x)]


class Floor(_Rounding):
    name = fname = "floor"


class Ceil(_Rounding):
    name = fname = "ceil"


class Trunc(_Rounding):
    name = fname = "trunc"


class RoundHalfToEven(_Rounding):
    name = "round_half_to_even"
    fname = "rint"


class RoundHalfAwayFromZero(_Rounding):
    """Round to nearest, ties away from zero (C's ``round``).

    Computed from ``trunc`` and the exact fractional part ``x - trunc(x)``: the textbook
    ``floor(x + 0.5)`` is wrong for 0.49999999999999994 (``x + 0.5`` rounds up to 1).
    """

    name = "round_half_away_from_zero"

    def np_impl(self, a):
        a = np.asarray(a)
        t = np.trunc(a)
        with np.errstate(invalid="ignore"):
            r = np.where(a - t >= 0.5, t + 1, np.where(t - a >= 0.5, t - 1, t))
        return r.astype(a.dtype)

    def code(self, args, in_dtypes, out_dtypes, fresh):
        a = args[0]
        dt = out_dtypes[0]
        t = fresh()
        h, one = _lit(0.5, dt), _lit(1, dt)
        return [f"{t} = {_f('trunc')}({a})"], [
            f"({t} + {one} if {a} - {t} >= {h} else ({t} - {one} if {t} - {a} >= {h} else {t}))"]


# The non-arithmetic scalar ops (defined in scalar_logic, which builds on the classes above)
from symgraph.tensor.scalar_logic import (  # noqa: E402,F401
    EQ,
    GE,
    GT,
    LE,
    LT,
    NEQ,
    And,
    Cast,
    Clip,
    Comparison,
    Identity,
    Invert,
    IsInf,
    IsNan,
    Or,
    Second,
    Switch,
    Xor,
    _Bitwise,
    _Predicate,
)


def _lit(value, dtype: str) -> str:
    """A typed literal for generated code (float32 stays float32 inside njit)."""
    if dtype == "bool":
        return "True" if value else "False"
    v = np.asarray(value).astype(dtype).item()
    if isinstance(v, float):
        if v != v:
            r = "np.nan"
        elif v in (float("inf"), float("-inf")):
            r = "np.inf" if v > 0 else "-np.inf"
        else:
            r = repr(v)
    else:
        r = repr(v)
    return f"_sg_dt_{dtype}({r})"


literal = _lit

# singletons
add, mul, sub, true_div, int_div, mod, pow_ = Add(), Mul(), Sub(), TrueDiv(), IntDiv(), Mod(), Pow()
maximum, minimum, arctan2 = Maximum(), Minimum(), ArcTan2()
neg, abs_, sgn, sqr, reciprocal = Neg(), Abs(), Sgn(), Sqr(), Reciprocal()
exp, exp2, log, log2, log10, log1p, expm1, sqrt = (Exp(), Exp2(), Log(), Log2(), Log10(),
                                                   Log1p(), Expm1(), Sqrt())
sin, cos, tan, tanh, sinh, cosh = Sin(), Cos(), Tan(), Tanh(), Sinh(), Cosh()
arcsin, arccos, arctan, erf = ArcSin(), ArcCos(), ArcTan(), Erf()
sigmoid, softplus = Sigmoid(), Softplus()
floor, ceil, trunc = Floor(), Ceil(), Trunc()
round_half_to_even, round_half_away_from_zero = RoundHalfToEven(), RoundHalfAwayFromZero()
isnan, isinf = IsNan(), IsInf()
lt, gt, le, ge, eq, neq = LT(), GT(), LE(), GE(), EQ(), NEQ()
and_, or_, xor, invert = And(), Or(), Xor(), Invert()
switch, clip, identity, second = Switch(), Clip(), Identity(), Second()
