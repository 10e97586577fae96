"""Elementwise math and reductions under Theano's names.

Every function accepts tensors, numpy data or Python scalars (weakly typed, see
``symgraph.tensor.basic``) and returns a symbolic TensorVariable.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.vector('x')
    >>> y = T.exp(-x ** 2).sum()
"""
from __future__ import annotations

import builtins as _b

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.basic import as_tensor_args, as_tensor_variable, constant
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.type import DISCRETE_DTYPES, FLOAT_DTYPES, TensorType, upgrade_to_float

__all__ = [
    "elemwise", "add", "mul", "sub", "true_div", "int_div", "floor_div", "mod", "pow", "power",
    "maximum", "minimum", "arctan2", "neg", "abs", "abs_", "sgn", "sign", "sqr", "reciprocal",
    "inv", "exp", "exp2", "log", "log2", "log10", "log1p", "expm1", "sqrt", "sin", "cos",
    "tan", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "erf", "sigmoid", "softplus",
    "floor", "ceil", "trunc", "isnan", "isinf", "lt", "gt", "le", "ge", "eq", "neq", "and_",
    "or_", "xor", "invert", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
    "switch", "where", "second", "fill", "clip", "round", "round_half_to_even",
    "round_half_away_from_zero", "iround", "cast", "zeros_like", "ones_like", "tensor_copy",
    "Reduce", "sum", "prod", "max", "min", "all", "any", "Argmax", "argmax", "argmin",
    "max_and_argmax", "AxesSize", "mean", "var", "std", "float_dtype",
]

_elemwise_cache: dict = {}


def elemwise(scalar_op) -> Elemwise:
    """The (shared) ``Elemwise`` op mapping ``scalar_op``: ``elemwise(ts.add)(x, y)``."""
    op = _elemwise_cache.get(scalar_op)
    if op is None:
        op = _elemwise_cache[scalar_op] = Elemwise(scalar_op)
    return op


def _apply(scalar_op, *args):
    return elemwise(scalar_op)(*as_tensor_args(*args))


def _mk(scalar_op, doc):
    def f(*args):
        return _apply(scalar_op, *args)

    f.__name__ = scalar_op.name.rstrip("_") if scalar_op.name != "and_" else "and_"
    f.__doc__ = doc
    return f


# -- arithmetic -----------------------------------------------------------------
def add(*xs):
    """Elementwise sum of any number of tensors (numpy broadcasting by pattern)."""
    return _apply(ts.add, *xs)


def mul(*xs):
    """Elementwise product of any number of tensors."""
    return _apply(ts.mul, *xs)


sub = _mk(ts.sub, "a - b elementwise.")
true_div = _mk(ts.true_div, "a / b elementwise (true division; ints give floats).")
int_div = _mk(ts.int_div, "a // b elementwise (floor division).")
floor_div = int_div
mod = _mk(ts.mod, "a % b elementwise (sign of the divisor, as numpy).")
pow = _mk(ts.pow_, "a ** b elementwise.")
power = pow
maximum = _mk(ts.maximum, "Elementwise maximum (NaN propagates).")
minimum = _mk(ts.minimum, "Elementwise minimum (NaN propagates).")
arctan2 = _mk(ts.arctan2, "Elementwise arctan2(y, x).")
neg = _mk(ts.neg, "-x elementwise.")
abs = _mk(ts.abs_, "|x| elementwise.")
abs_ = abs
sgn = _mk(ts.sgn, "Sign of x (-1, 0, 1).")
sign = sgn
sqr = _mk(ts.sqr, "x * x elementwise.")
reciprocal = _mk(ts.reciprocal, "1 / x elementwise.")
inv = reciprocal
exp = _mk(ts.exp, "e ** x elementwise.")
exp2 = _mk(ts.exp2, "2 ** x elementwise.")
log = _mk(ts.log, "Natural logarithm.")
log2 = _mk(ts.log2, "Base-2 logarithm.")
log10 = _mk(ts.log10, "Base-10 logarithm.")
log1p = _mk(ts.log1p, "log(1 + x), accurate for small x.")
expm1 = _mk(ts.expm1, "exp(x) - 1, accurate for small x.")
sqrt = _mk(ts.sqrt, "Square root.")
sin = _mk(ts.sin, "Sine.")
cos = _mk(ts.cos, "Cosine.")
tan = _mk(ts.tan, "Tangent.")
tanh = _mk(ts.tanh, "Hyperbolic tangent.")
sinh = _mk(ts.sinh, "Hyperbolic sine.")
cosh = _mk(ts.cosh, "Hyperbolic cosine.")
arcsin = _mk(ts.arcsin, "Inverse sine.")
arccos = _mk(ts.arccos, "Inverse cosine.")
arctan = _mk(ts.arctan, "Inverse tangent.")
erf = _mk(ts.erf, "Error function.")
sigmoid = _mk(ts.sigmoid, "Logistic sigmoid 1 / (1 + exp(-x)).")
softplus = _mk(ts.softplus, "log(1 + exp(x)), computed without overflow.")
floor = _mk(ts.floor, "Round down.")
ceil = _mk(ts.ceil, "Round up.")
trunc = _mk(ts.trunc, "Round toward zero.")
isnan = _mk(ts.isnan, "True where x is NaN.")
isinf = _mk(ts.isinf, "True where x is +-inf.")
lt = _mk(ts.lt, "a < b elementwise (bool).")
gt = _mk(ts.gt, "a > b elementwise (bool).")
le = _mk(ts.le, "a <= b elementwise (bool).")
ge = _mk(ts.ge, "a >= b elementwise (bool).")
eq = _mk(ts.eq, "a == b elementwise (bool).")
neq = _mk(ts.neq, "a != b elementwise (bool).")
and_ = _mk(ts.and_, "Bitwise/logical and (bool or int inputs).")
or_ = _mk(ts.or_, "Bitwise/logical or (bool or int inputs).")
xor = _mk(ts.xor, "Bitwise/logical xor (bool or int inputs).")
invert = _mk(ts.invert, "Bitwise not (logical not for bool).")
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert
switch = _mk(ts.switch, "switch(cond, a, b): a where cond is true, else b.")
where = switch
second = _mk(ts.second, "second(a, b): b broadcast to the shape of a (Theano's fill).")
fill = second


def clip(x, a_min, a_max):
    """Clamp x to [a_min, a_max] elementwise."""
    return _apply(ts.clip, x, a_min, a_max)


def round(x, mode=None):
    """Round to nearest: mode 'half_to_even' (numpy's, the default) or 'half_away_from_zero'."""
    if mode in (None, "half_to_even"):
        return _apply(ts.round_half_to_even, x)
    if mode == "half_away_from_zero":
        return _apply(ts.round_half_away_from_zero, x)
    raise ValueError(f"round: mode must be 'half_to_even' or 'half_away_from_zero', got {mode!r}")


def round_half_to_even(x):
    """Round to nearest, ties to even (numpy's ``round``)."""
    return round(x, "half_to_even")


def round_half_away_from_zero(x):
    """Round to nearest, ties away from zero (C's ``round``)."""
    return round(x, "half_away_from_zero")


def iround(x, mode=None):
    """``round(x, mode)`` cast to int64 (Theano's ``iround``)."""
    return cast(round(x, mode), "int64")


def cast(x, dtype):
    """Convert x to ``dtype`` ('floatX' allowed); a no-op when it already has it."""
    x = as_tensor_variable(x)
    if dtype == "floatX":
        from symgraph.config import config

        dtype = config.floatX
    dtype = str(np.dtype(dtype))
    if x.type.dtype == dtype:
        return x
    return elemwise(ts.Cast(dtype))(x)


def zeros_like(x, dtype=None):
    """Zeros with the shape (and dtype, unless given) of x."""
    x = as_tensor_variable(x)
    return second(x, constant(0, dtype=dtype or x.type.dtype))


def ones_like(x, dtype=None):
    """Ones with the shape (and dtype, unless given) of x."""
    x = as_tensor_variable(x)
    return second(x, constant(1, dtype=dtype or x.type.dtype))


def tensor_copy(x):
    """A copy of x (a new buffer): ``y = T.tensor_copy(x)``."""
    return _apply(ts.identity, x)


# -- reductions -----------------------------------------------------------------

def _norm_axis(axis, ndim, what="axis"):
    """``axis`` (None, an int or a sequence of ints, negative allowed) as a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    if hasattr(axis, "type"):
        raise TypeError(f"{what} must be a constant int or tuple of ints, got the symbolic "
                        f"{axis}")
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    out = []
    for a in axis:
        if hasattr(a, "type") or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{what} must be a constant int or tuple of ints, got {a!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{what} {a} is out of range for a {ndim}-d tensor")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated {what} in {tuple(axis)}")
    return tuple(sorted(out))


class Reduce(Op):
    """Reduce along ``axis`` (a sorted tuple) with add, mul, maximum, minimum, and, or.

    ``keepdims`` is done by a DimShuffle after the reduction, so backends see one shape.
    """

    __props__ = ("scalar_op", "axis", "dtype")

    def __init__(self, scalar_op, axis, dtype=None):
        self.scalar_op = scalar_op
        self.axis = tuple(axis)
        self.dtype = dtype

    def __str__(self):
        return f"{type(self).__name__}{{{self.scalar_op}, axis={list(self.axis)}}}"

    def _out_dtype(self, dtype):
        if self.dtype is not None:
            return self.dtype
        if self.scalar_op in (ts.add, ts.mul):
            if dtype == "bool" or (dtype in DISCRETE_DTYPES and np.dtype(dtype).itemsize < 8):
                return "uint64" if dtype.startswith("uint") else "int64"
        if self.scalar_op in (ts.and_, ts.or_):
            return "bool"
        return dtype

    def make_node(self, x):
        x = as_tensor_variable(x)
        for a in self.axis:
            if not 0 <= a < x.type.ndim:
                raise ValueError(f"{self}: axis {a} out of range for {x.type}")
        if self.scalar_op.name not in self._np:
            raise TypeError(f"{self}: cannot reduce with {self.scalar_op}")
        bcast = tuple(b for i, b in enumerate(x.type.broadcastable) if i not in self.axis)
        out = TensorType(self._out_dtype(x.type.dtype), bcast).make_variable()
        return Apply(self, [x], [out])

    _np = {"add": np.sum, "mul": np.prod, "maximum": np.max, "minimum": np.min,
           "and_": np.all, "or_": np.any}

    def perform(self, node, inputs):
        (x,) = inputs
        f = self._np[self.scalar_op.name]
        dt = node.outputs[0].type.dtype
        if self.scalar_op.name in ("maximum", "minimum"):
            if _b.any(np.shape(x)[a] == 0 for a in self.axis):
                raise ValueError(f"{self}: cannot take the {self.scalar_op.name} of an empty "
                                 f"axis (input shape {np.shape(x)})")
            r = f(x, axis=self.axis)
        elif self.scalar_op.name in ("add", "mul"):
            r = f(x, axis=self.axis, dtype=dt)
        else:
            r = f(x, axis=self.axis)
        return [np.asarray(r, dtype=dt)]

    def infer_shape(self, fgraph, node, input_shapes):
        (s,) = input_shapes
        return [tuple(d for i, d in enumerate(s) if i not in self.axis)]

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        (gz,) = output_grads
        if x.type.dtype not in FLOAT_DTYPES:
            return [None]
        name = self.scalar_op.name
        # put the reduced axes back as broadcastable dims
        pattern = []
        j = 0
        for i in range(x.type.ndim):
            if i in self.axis:
                pattern.append("x")
            else:
                pattern.append(j)
                j += 1
        gz_b = DimShuffle(gz.type.broadcastable, pattern)(gz)
        if name == "add":
            g = second(x, gz_b)
        elif name == "mul":
            # d prod / d x_i = product of the other entries, also where x_i == 0 (z / x
            # would give nan there): with one zero on the axis its position gets the
            # product of the non-zeros, with several zeros every position gets 0
            z_b = DimShuffle(outputs[0].type.broadcastable, pattern)(outputs[0])
            is_zero = eq(x, 0)
            prod_nz = Reduce(ts.mul, self.axis, self.dtype)(switch(is_zero, 1, x))
            n_zero = Reduce(ts.add, self.axis)(is_zero)
            one_zero_b = DimShuffle(n_zero.type.broadcastable, pattern)(eq(n_zero, 1))
            at_zero = switch(one_zero_b, DimShuffle(prod_nz.type.broadcastable, pattern)(
                prod_nz), 0)
            g = mul(gz_b, switch(is_zero, at_zero, true_div(z_b, switch(is_zero, 1, x))))
        elif name in ("maximum", "minimum"):
            z_b = DimShuffle(outputs[0].type.broadcastable, pattern)(outputs[0])
            g = mul(gz_b, cast(eq(x, z_b), gz.type.dtype))
        else:
            return [None]
        return [cast(g, x.type.dtype)]


def _reduce(scalar_op, x, axis, keepdims, dtype=None):
    x = as_tensor_variable(x)
    axes = _norm_axis(axis, x.type.ndim)
    if dtype is not None:
        dtype = str(np.dtype(dtype))
    op = Reduce(scalar_op, axes, dtype)
    # a reduction over no axis is the identity, unless it changes the dtype (np.sum(int8))
    out = op(x) if (axes or op._out_dtype(x.type.dtype) != x.type.dtype) else x
    if keepdims:
        out = _keep(out, x.type.ndim, axes)
    return out


def _keep(out, ndim, axes):
    pattern = []
    j = 0
    for i in range(ndim):
        if i in axes:
            pattern.append("x")
        else:
            pattern.append(j)
            j += 1
    return DimShuffle(out.type.broadcastable, pattern)(out)


def sum(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Sum over ``axis`` (None: all). Small ints accumulate in int64, like numpy."""
    return _reduce(ts.add, x, axis, keepdims, dtype)


def prod(x, axis=None, dtype=None, keepdims=False, acc_dtype=None, no_zeros_in_input=False):
    """Product over ``axis``: ``T.prod(x, axis=1)``. Its gradient is exact at zeros too
    (``no_zeros_in_input`` is accepted for Theano compatibility and changes nothing)."""
    if isinstance(x, (list, tuple)):
        x = as_tensor_variable(x)
    return _reduce(ts.mul, x, axis, keepdims, dtype)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; its gradient goes to every position equal to the max."""
    return _reduce(ts.maximum, x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    """Minimum over ``axis``."""
    return _reduce(ts.minimum, x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    """True where every element along ``axis`` is nonzero: ``T.all(x > 0, axis=1)``."""
    return _reduce(ts.and_, cast(x, "bool"), axis, keepdims)


def any(x, axis=None, keepdims=False):
    """True where some element along ``axis`` is nonzero: ``T.any(T.isnan(x))``."""
    return _reduce(ts.or_, cast(x, "bool"), axis, keepdims)


class Argmax(Op):
    """Index (int64) of the max (or min with ``kind='min'``) along one axis or all axes."""

    __props__ = ("axis", "kind")

    def __init__(self, axis, kind="max"):
        self.axis = axis if axis is None else int(axis)
        self.kind = kind

    def __str__(self):
        return f"Arg{self.kind}{{axis={self.axis}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if self.axis is not None and not 0 <= self.axis < x.type.ndim:
            raise ValueError(f"{self}: axis {self.axis} out of range for {x.type}")
        if self.axis is None:
            bcast = ()
        else:
            bcast = tuple(b for i, b in enumerate(x.type.broadcastable) if i != self.axis)
        return Apply(self, [x], [TensorType("int64", bcast).make_variable()])

    def perform(self, node, inputs):
        (x,) = inputs
        x = np.asarray(x)
        if x.size == 0 or (self.axis is not None and x.shape[self.axis] == 0):
            raise ValueError(f"{self}: attempt to get the arg{self.kind} of an empty sequence "
                             f"(input shape {x.shape})")
        f = np.argmax if self.kind == "max" else np.argmin
        r = f(x.reshape(-1)) if self.axis is None else f(x, axis=self.axis)
        return [np.asarray(r, dtype="int64")]

    def infer_shape(self, fgraph, node, input_shapes):
        if self.axis is None:
            return [()]
        return [tuple(d for i, d in enumerate(input_shapes[0]) if i != self.axis)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


def _arg(kind, x, axis, keepdims):
    x = as_tensor_variable(x)
    if axis is None or (isinstance(axis, (list, tuple)) and len(axis) == x.type.ndim):
        out = Argmax(None, kind)(x)
        axes = tuple(range(x.type.ndim))
    else:
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"arg{kind} over several (not all) axes is not supported")
            axis = axis[0]
        (a,) = _norm_axis(axis, x.type.ndim)
        out = Argmax(a, kind)(x)
        axes = (a,)
    if keepdims:
        out = _keep(out, x.type.ndim, axes)
    return out


def argmax(x, axis=None, keepdims=False):
    """Index of the maximum along ``axis`` (None: of the flattened tensor)."""
    return _arg("max", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the (first) minimum along ``axis`` (None: of the flattened tensor)."""
    return _arg("min", x, axis, keepdims)


def max_and_argmax(x, axis=None, keepdims=False):
    """``(max(x, axis), argmax(x, axis))``: ``m, i = T.max_and_argmax(x, axis=1)``."""
    return max(x, axis, keepdims), argmax(x, axis, keepdims)


class AxesSize(Op):
    """The number of elements of ``x`` along ``axes`` (an int64 scalar): the divisor of
    ``mean`` and ``var``, computed from the shape without reading the data."""

    __props__ = ("axes",)

    def __init__(self, axes):
        self.axes = tuple(axes)

    def __str__(self):
        return f"AxesSize{{{list(self.axes)}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        for a in self.axes:
            if not 0 <= a < x.type.ndim:
                raise ValueError(f"{self}: axis {a} out of range for {x.type}")
        return Apply(self, [x], [TensorType("int64", ()).make_variable()])

    def perform(self, node, inputs):
        shp = np.shape(inputs[0])
        n = 1
        for a in self.axes:
            n *= shp[a]
        return [np.asarray(n, dtype="int64")]

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


def _count(x, axes):
    return AxesSize(axes)(x)


def mean(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Arithmetic mean over ``axis``; integer inputs give float64 (like numpy)."""
    x = as_tensor_variable(x)
    axes = _norm_axis(axis, x.type.ndim)
    out_dt = dtype or (x.type.dtype if x.type.dtype in FLOAT_DTYPES else "float64")
    s = sum(cast(x, out_dt) if x.type.dtype != out_dt else x, axis=axes, keepdims=keepdims)
    if not axes:
        return s
    return true_div(s, cast(_count(x, axes), out_dt))


def var(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance over ``axis`` (``ddof=1`` or ``corrected=True`` for the unbiased estimate)."""
    x = as_tensor_variable(x)
    axes = _norm_axis(axis, x.type.ndim)
    if corrected:
        ddof = 1
    m = mean(x, axis=axes, keepdims=True)
    # over no axis m is x itself: x * 0 (not x - x, which a rewrite folds to 0) keeps NaN
    # for NaN and inf entries, as numpy's var does
    d = sub(x, m) if axes else mul(m, 0)
    v = mean(sqr(d), axis=axes, keepdims=keepdims)
    if ddof:
        n = cast(_count(x, axes), v.type.dtype)
        v = mul(v, true_div(n, sub(n, ddof)))
    return v


def std(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Standard deviation over ``axis``."""
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected))


def float_dtype(x):
    """The float dtype a float function of x returns (int8 -> float32, int32 -> float64)."""
    return upgrade_to_float(as_tensor_variable(x).type.dtype)
