"""Ops that build arrays from others or from sizes: join/concatenate, split, stack, alloc
(zeros, ones), arange, eye, tile, repeat, flip.

Split out of ``shape_ops`` (which keeps the ops that only describe or change a shape:
shape, reshape, dimshuffle, rebroadcast, specify_shape) so each file stays readable;
``shape_ops`` re-exports every name here, so ``symgraph.tensor.shape_ops.Join`` still works.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.matrix('x')
    >>> T.concatenate([x, x], axis=1).ndim
    2
"""
from __future__ import annotations

import builtins as _b

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_args, as_tensor_variable, constant
from symgraph.tensor.elemwise import DimShuffle, unbroadcast_grad
from symgraph.tensor.shape_ops import (
    _ALL_INT,
    MakeVector,
    Shape_i,
    _add,
    _as_int_scalar,
    _axes,
    _const_entries,
    _is_int_like,
    _make_shape_vector,
    _mul,
    _static_int,
    _tm,
    _vector_entries,
    _vector_length,
    flatten,
    reshape,
    shape_i,
    shape_padaxis,
    shape_padleft,
)
from symgraph.tensor.type import DISCRETE_DTYPES, FLOAT_DTYPES, TensorType, upcast

__all__ = [
    "Join", "Split", "Alloc", "ARange", "Eye", "Flip", "Repeat",
    "concatenate", "join", "stack", "stacklists", "horizontal_stack", "vertical_stack",
    "split", "alloc",
    "zeros", "ones", "arange", "eye", "identity_like", "tile", "repeat", "flip",
]


# ----------------------------------------------------------------------- Join / Split

class Join(Op):
    """Concatenate tensors of equal ndim along the constant ``axis``."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, *tensors):
        tensors = [as_tensor_variable(t) for t in tensors]
        if not tensors:
            raise ValueError(f"{self}: needs at least one tensor")
        nd = tensors[0].type.ndim
        for k, t in enumerate(tensors):
            if t.type.ndim != nd:
                raise TypeError(f"{self}: all inputs must have the same number of dimensions; "
                                f"input 0 is {tensors[0].type} ({nd}-d), input {k} is {t.type} "
                                f"({t.type.ndim}-d)")
        if nd == 0:
            raise TypeError(f"{self}: cannot join 0-d tensors (use stack), got {tensors[0].type}")
        if not 0 <= self.axis < nd:
            raise ValueError(f"{self}: axis {self.axis} out of range for {nd}-d inputs")
        dtype = upcast(*[t.type.dtype for t in tensors])
        bc = [_b.any(t.type.broadcastable[d] for t in tensors) for d in range(nd)]
        bc[self.axis] = tensors[0].type.broadcastable[self.axis] if len(tensors) == 1 else False
        return Apply(self, tensors, [TensorType(dtype, bc).make_variable()])

    def perform(self, node, inputs):
        ax = self.axis
        shapes = [np.shape(v) for v in inputs]
        ref = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(ref) or any(a != b for d, (a, b) in enumerate(zip(s, ref))
                                         if d != ax):
                raise ValueError(f"{self}: all input dimensions except axis {ax} must match; "
                                 f"input shapes are {', '.join(map(str, shapes))}")
        out = np.concatenate(inputs, axis=ax)
        return [np.asarray(out, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        ax = self.axis
        bc = node.outputs[0].type.broadcastable
        out = []
        for d in range(len(bc)):
            if d == ax:
                out.append(_add(*[s[ax] for s in input_shapes]))
            elif bc[d]:
                out.append(1)
            else:
                out.append(input_shapes[0][d])
        return [tuple(out)]

    def L_op(self, inputs, outputs, output_grads):
        (gz,) = output_grads
        if outputs[0].type.dtype not in FLOAT_DTYPES:
            return [None] * len(inputs)
        if len(inputs) == 1:
            pieces = [gz]
        else:
            sizes = _make_shape_vector([shape_i(x, self.axis) for x in inputs])
            pieces = Split(len(inputs), self.axis)(gz, sizes)
        out = []
        for x, g in zip(inputs, pieces):
            if x.type.dtype not in FLOAT_DTYPES:
                out.append(None)
            else:
                out.append(unbroadcast_grad(g, x))
        return out


def _norm_join_axis(axis, nd, what):
    s = _static_int(axis)
    if s is None:
        raise TypeError(f"{what}: axis must be a constant int, got {axis!r}")
    if not -nd <= s < _b.max(nd, 1):
        raise ValueError(f"{what}: axis {s} out of range for {nd}-d tensors")
    return s % nd if nd else 0


def join(axis, *tensors_list):
    """Concatenate tensors along ``axis`` (Theano's ``T.join(axis, *tensors)``).

    Example::

        >>> T.join(0, T.vector('a'), T.vector('b')).ndim
        1
    """
    if len(tensors_list) == 1 and isinstance(tensors_list[0], (list, tuple)):
        tensors_list = tuple(tensors_list[0])
    if not tensors_list:
        raise ValueError("join: needs at least one tensor")
    tensors = as_tensor_args(*tensors_list)
    if len(tensors) == 1:
        return tensors[0]
    nd = tensors[0].type.ndim
    return Join(_norm_join_axis(axis, nd, "join"))(*tensors)


def concatenate(tensor_list, axis=0):
    """Concatenate a list of tensors along ``axis`` (like ``numpy.concatenate``).

    Example::

        >>> x = T.matrix('x')
        >>> T.concatenate([x, x], axis=1).ndim
        2
    """
    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError(f"concatenate: the first argument must be a list or tuple of tensors, "
                        f"got {type(tensor_list).__name__}; use concatenate([a, b], axis)")
    return join(axis, *tensor_list)


class Split(Op):
    """Split ``x`` along ``axis`` into ``n_splits`` pieces whose lengths are the int vector
    ``splits``. Outputs are views of the input."""

    __props__ = ("n_splits", "axis")

    def __init__(self, n_splits, axis):
        self.n_splits = int(n_splits)
        self.axis = int(axis)
        self.view_map = {i: [0] for i in range(self.n_splits)}

    def make_node(self, x, splits):
        x = as_tensor_variable(x)
        splits = as_tensor_variable(splits)
        if not 0 <= self.axis < x.type.ndim:
            raise ValueError(f"{self}: axis {self.axis} out of range for {x.type}")
        if splits.type.ndim != 1 or splits.type.dtype not in _ALL_INT:
            raise TypeError(f"{self}: splits must be an integer vector, got {splits.type}")
        if splits.type.dtype != "int64":
            splits = _tm().cast(splits, "int64")
        static = _const_entries(splits)
        if static is not None and len(static) != self.n_splits:
            raise ValueError(f"{self}: got {len(static)} split sizes, expected {self.n_splits}")
        outs = []
        for k in range(self.n_splits):
            bc = list(x.type.broadcastable)
            bc[self.axis] = static is not None and static[k] == 1
            outs.append(TensorType(x.type.dtype, bc).make_variable())
        return Apply(self, [x, splits], outs)

    def perform(self, node, inputs):
        x, splits = inputs
        x = np.asarray(x)
        splits = np.asarray(splits).reshape(-1)
        if len(splits) != self.n_splits:
            raise ValueError(f"{self}: got {len(splits)} split sizes {tuple(splits)}, expected "
                             f"{self.n_splits}")
        if np.any(splits < 0) or int(splits.sum()) != x.shape[self.axis]:
            raise ValueError(f"{self}: split sizes {tuple(int(s) for s in splits)} must be "
                             f">= 0 and sum to {x.shape[self.axis]} (input shape {x.shape})")
        idx = np.cumsum(splits)[:-1]
        return list(np.split(x, idx, axis=self.axis))

    def infer_shape(self, fgraph, node, input_shapes):
        entries = _vector_entries(node.inputs[1], self.n_splits, str(self))
        res = []
        for e in entries:
            s = list(input_shapes[0])
            s[self.axis] = e
            res.append(tuple(s))
        return res

    def L_op(self, inputs, outputs, output_grads):
        x, _ = inputs
        if x.type.dtype not in FLOAT_DTYPES:
            return [None, None]
        g = join(self.axis, *output_grads) if len(output_grads) > 1 else output_grads[0]
        return [unbroadcast_grad(g, x), None]


def split(x, splits_size, n_splits, axis=0):
    """Split ``x`` along ``axis`` into ``n_splits`` pieces of lengths ``splits_size``.

    Example::

        >>> a, b = T.split(T.vector('x'), [2, 3], 2)
    """
    x = as_tensor_variable(x)
    ax = _norm_join_axis(axis, x.type.ndim, "split")
    if isinstance(splits_size, (list, tuple)):
        sizes = _make_shape_vector(_vector_entries(list(splits_size), opname="split",
                                                   what="splits_size"))
    else:
        sizes = as_tensor_variable(splits_size)
    out = Split(n_splits, ax)(x, sizes)
    return out if isinstance(out, list) else [out]


# ----------------------------------------------------------------------- stack

def stack(*tensors, **kwargs):
    """Stack tensors of the same shape along a new axis (``stack([a, b], axis=0)``).

    A list of 0-d tensors gives a vector. ``stack(a, b, c)`` is also accepted.

    Example::

        >>> a, b = T.dscalars('a', 'b')
        >>> T.stack([a, b]).ndim
        1
    """
    axis = kwargs.pop("axis", 0)
    if "tensors" in kwargs:
        tensors = (kwargs.pop("tensors"),) + tensors
    if kwargs:
        raise TypeError(f"stack: unexpected keyword arguments {sorted(kwargs)}")
    if tensors and isinstance(tensors[0], (list, tuple)):
        if len(tensors) == 2:
            axis = tensors[1]
        elif len(tensors) > 2:
            raise TypeError("stack: use stack(list_of_tensors, axis)")
        tensors = tensors[0]
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    ts = as_tensor_args(*tensors)
    nd = ts[0].type.ndim
    for k, t in enumerate(ts):
        if t.type.ndim != nd:
            raise TypeError(f"stack: all tensors must have the same number of dimensions; "
                            f"tensor 0 is {ts[0].type}, tensor {k} is {t.type}")
    ax = _norm_join_axis(axis, nd + 1, "stack")
    if nd == 0:
        dtype = upcast(*[t.type.dtype for t in ts])
        return MakeVector(dtype)(*[_tm().cast(t, dtype) for t in ts])
    padded = [shape_padaxis(t, ax) for t in ts]
    if len(padded) == 1:
        return padded[0]
    return Join(ax)(*padded)


def stacklists(arg):
    """Stack nested lists of tensors into one tensor of the same nesting (Theano's
    ``stacklists``): ``stacklists([[a, b], [c, d]])`` of four scalars is a 2 x 2 matrix.

    Example::

        >>> a, b, c, d = T.scalars('abcd')
        >>> T.stacklists([[a, b], [c, d]]).ndim
        2
    """
    if isinstance(arg, (tuple, list)):
        return stack([stacklists(a) for a in arg])
    return arg


def horizontal_stack(*args):
    """Concatenate matrices along axis 1 (Theano: inputs must be 2-d).

    Example::

        >>> T.horizontal_stack(T.matrix('a'), T.matrix('b')).ndim
        2
    """
    return _hv_stack(args, 1, "horizontal_stack")


def vertical_stack(*args):
    """Concatenate matrices along axis 0 (Theano: inputs must be 2-d).

    Example::

        >>> T.vertical_stack(T.matrix('a'), T.matrix('b')).ndim
        2
    """
    return _hv_stack(args, 0, "vertical_stack")


def _hv_stack(args, axis, what):
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    if len(args) < 2:
        raise ValueError(f"{what}: needs at least two matrices")
    args = [as_tensor_variable(a) for a in args]
    for k, a in enumerate(args):
        if a.type.ndim != 2:
            raise TypeError(f"{what}: expected 2-d tensors, argument {k} is {a.type}")
    return concatenate(args, axis=axis)


# ----------------------------------------------------------------------- Alloc

class Alloc(Op):
    """Broadcast ``value`` to the shape given by int scalars (a fresh array).

    The value's dimensions align with the last dimensions of the shape; a value dimension
    stretches only when its type is broadcastable.
    """

    __props__ = ()

    def make_node(self, value, *shape):
        value = as_tensor_variable(value)
        shape = [_as_int_scalar(s, str(self), f"shape entry {k}") for k, s in enumerate(shape)]
        if value.type.ndim > len(shape):
            raise TypeError(f"{self}: the value has {value.type.ndim} dimensions ({value.type}), "
                            f"more than the {len(shape)} of the requested shape")
        bc = []
        off = len(shape) - value.type.ndim
        for d, s in enumerate(shape):
            v = _static_int(s)
            bc.append(v == 1)
            if d >= off and v is not None and v != 1 and \
                    value.type.broadcastable[d - off] is False and isinstance(value, Constant) \
                    and np.shape(value.data)[d - off] != v:
                raise ValueError(f"{self}: value of shape {np.shape(value.data)} cannot be "
                                 f"broadcast to a dimension {d} of length {v}")
        return Apply(self, [value, *shape], [TensorType(value.type.dtype, bc).make_variable()])

    def perform(self, node, inputs):
        v = np.asarray(inputs[0])
        shp = tuple(int(s) for s in inputs[1:])
        if any(s < 0 for s in shp):
            raise ValueError(f"{self}: negative dimension in the requested shape {shp}")
        off = len(shp) - v.ndim
        vb = node.inputs[0].type.broadcastable
        for j in range(v.ndim):
            if not vb[j] and v.shape[j] != shp[off + j]:
                raise ValueError(f"{self}: value of shape {v.shape} cannot be broadcast to the "
                                 f"shape {shp} (dimension {j} of the value is not "
                                 f"broadcastable)")
        out = np.empty(shp, dtype=node.outputs[0].type.dtype)
        out[...] = v
        return [out]

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(_static_int(s) if _static_int(s) is not None else s
                      for s in node.inputs[1:])]

    def L_op(self, inputs, outputs, output_grads):
        value = inputs[0]
        (gz,) = output_grads
        nones = [None] * (len(inputs) - 1)
        if value.type.dtype not in FLOAT_DTYPES:
            return [None] + nones
        tm = _tm()
        off = gz.type.ndim - value.type.ndim
        g = gz
        if off:
            g = tm.sum(g, axis=list(range(off)))
        axes = [j for j in range(value.type.ndim)
                if value.type.broadcastable[j] and not g.type.broadcastable[j]]
        if axes:
            g = tm.sum(g, axis=axes, keepdims=True)
        return [unbroadcast_grad(g, value)] + nones


def alloc(value, *shape):
    """An array of shape ``shape`` filled with ``value`` (broadcast numpy-style; a Python
    float becomes floatX).

    Example::

        >>> n = T.lscalar('n')
        >>> T.alloc(0.5, n, 3).ndim
        2
    """
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    if isinstance(value, float) and not isinstance(value, np.generic):
        from symgraph.config import config

        value = constant(value, dtype=config.floatX)   # a Python float is floatX (Theano)
    return Alloc()(value, *shape)


def _filled(fill, shape, dtype, what):
    from symgraph.config import config

    dtype = config.floatX if dtype is None else str(np.dtype(dtype)) if dtype != "floatX" \
        else config.floatX
    if _is_int_like(shape) or (isinstance(shape, Variable) and shape.type.ndim == 0):
        shape = [shape]
    entries = _vector_entries(shape, None, what, "shape")
    return Alloc()(constant(fill, dtype=dtype), *entries)


def zeros(shape, dtype=None):
    """Zeros of the given shape (a tuple of ints/int scalars, or e.g. ``x.shape``).

    Example::

        >>> T.zeros((2, 3)).ndim
        2
    """
    return _filled(0, shape, dtype, "zeros")


def ones(shape, dtype=None):
    """Ones of the given shape; ``dtype`` defaults to floatX.

    Example::

        >>> T.ones((2, 3), dtype='int32').dtype
        'int32'
    """
    return _filled(1, shape, dtype, "ones")


# ----------------------------------------------------------------------- ARange, Eye

class ARange(Op):
    """``numpy.arange(start, stop, step)`` with 0-d inputs and output dtype ``dtype``."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = str(np.dtype(dtype))

    def make_node(self, start, stop, step):
        args = [as_tensor_variable(v) for v in (start, stop, step)]
        for name, v in zip(("start", "stop", "step"), args):
            if v.type.ndim != 0:
                raise TypeError(f"{self}: {name} must be a scalar (0-d), got {v.type}")
            if v.type.dtype.startswith("complex"):
                raise TypeError(f"{self}: {name} must be real, got {v.type}")
        return Apply(self, args, [TensorType(self.dtype, (False,)).make_variable()])

    def perform(self, node, inputs):
        start, stop, step = (np.asarray(v).item() for v in inputs)
        if step == 0:
            raise ValueError(f"{self}: step must not be zero")
        return [np.arange(start, stop, step, dtype=self.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        tm = _tm()
        start, stop, step = node.inputs
        if all(v.type.dtype in DISCRETE_DTYPES for v in node.inputs):
            a, b, c = (tm.cast(v, "int64") for v in (start, stop, step))
            n = tm.neg(tm.int_div(tm.sub(a, b), c))        # ceil((b - a) / c)
        else:
            a, b, c = (tm.cast(v, "float64") for v in (start, stop, step))
            n = tm.cast(tm.ceil(tm.true_div(tm.sub(b, a), c)), "int64")
        return [(tm.maximum(n, constant(0, dtype="int64")),)]

    def L_op(self, inputs, outputs, output_grads):
        tm = _tm()
        start, stop, step = inputs
        (gz,) = output_grads
        if self.dtype not in FLOAT_DTYPES:
            return [None, None, None]
        n = Shape_i(0)(outputs[0])
        g_start = tm.cast(tm.sum(gz), start.type.dtype) \
            if start.type.dtype in FLOAT_DTYPES else None
        g_step = None
        if step.type.dtype in FLOAT_DTYPES:
            idx = ARange(self.dtype)(constant(0, dtype="int64"), n, constant(1, dtype="int64"))
            g_step = tm.cast(tm.sum(tm.mul(gz, idx)), step.type.dtype)
        return [g_start, None, g_step]


def arange(start, stop=None, step=1, dtype=None):
    """``numpy.arange`` with symbolic or constant bounds.

    Dtype (Theano's rule): int64 for integer arguments, otherwise the upcast of the
    arguments' dtypes (Python floats count as floatX).

    Example::

        >>> n = T.lscalar('n')
        >>> T.arange(n).dtype
        'int64'
    """
    if stop is None:
        start, stop = 0, start
    start, stop, step = as_tensor_args(start, stop, step)
    for name, v in zip(("start", "stop", "step"), (start, stop, step)):
        if v.type.ndim != 0:
            raise TypeError(f"arange: {name} must be a scalar (0-d), got {v.type}")
    if dtype is None:
        dtype = upcast(start.type.dtype, stop.type.dtype, step.type.dtype)
        if dtype in DISCRETE_DTYPES:
            dtype = "uint64" if dtype.startswith("uint") else "int64"
    elif dtype == "floatX":
        from symgraph.config import config

        dtype = config.floatX
    return ARange(dtype)(start, stop, step)


class Eye(Op):
    """An ``n x m`` matrix with ones on the ``k``-th diagonal (``numpy.eye``)."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = str(np.dtype(dtype))

    def make_node(self, n, m, k):
        n = _as_int_scalar(n, str(self), "n")
        m = _as_int_scalar(m, str(self), "m")
        k = _as_int_scalar(k, str(self), "k")
        return Apply(self, [n, m, k], [TensorType(self.dtype, (False, False)).make_variable()])

    def perform(self, node, inputs):
        n, m, k = (int(v) for v in inputs)
        if n < 0 or m < 0:
            raise ValueError(f"{self}: negative dimensions ({n}, {m})")
        return [np.eye(n, m, k, dtype=self.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        n, m, _ = node.inputs
        return [(_static_int(n) if _static_int(n) is not None else n,
                 _static_int(m) if _static_int(m) is not None else m)]

    def L_op(self, inputs, outputs, output_grads):
        return [None, None, None]


def eye(n, m=None, k=0, dtype=None):
    """Identity-like matrix: ones on the ``k``-th diagonal (dtype defaults to floatX).

    Example::

        >>> T.eye(3).ndim
        2
    """
    from symgraph.config import config

    if dtype is None or dtype == "floatX":
        dtype = config.floatX
    if m is None:
        m = n
    return Eye(dtype)(n, m, k)


def identity_like(x):
    """An identity matrix with the shape and dtype of matrix ``x``.

    Example::

        >>> T.identity_like(T.matrix('x')).ndim
        2
    """
    x = as_tensor_variable(x)
    if x.type.ndim != 2:
        raise TypeError(f"identity_like: expected a matrix, got {x.type}")
    return Eye(x.type.dtype)(shape_i(x, 0), shape_i(x, 1), 0)


# ----------------------------------------------------------------------- tile, repeat, flip

def tile(x, reps, ndim=None):
    """Tile ``x`` ``reps`` times along each axis (``numpy.tile``).

    ``reps``: an int, a list of ints / int scalars, or a symbolic vector (then ``ndim``,
    the output's number of dimensions, must be given).

    Example::

        >>> T.tile(T.vector('v'), (2, 3)).ndim
        2
    """
    x = as_tensor_variable(x)
    if _is_int_like(reps) or (isinstance(reps, Variable) and reps.type.ndim == 0):
        reps = [reps]
    if isinstance(reps, Variable) and ndim is None and _vector_length(reps) is None:
        raise ValueError("tile: reps is a symbolic vector of unknown length; pass ndim=")
    r = _vector_entries(reps, ndim, "tile", "reps")
    n = _b.max(x.type.ndim, len(r)) if ndim is None else int(ndim)
    if n < x.type.ndim or n < len(r):
        raise ValueError(f"tile: ndim={n} is smaller than x.ndim={x.type.ndim} or "
                         f"len(reps)={len(r)}")
    for e in r:
        if isinstance(e, int) and e < 0:
            raise ValueError(f"tile: reps must be >= 0, got {reps}")
    r = [1] * (n - len(r)) + list(r)
    xp = shape_padleft(x, n - x.type.ndim) if n > x.type.ndim else x
    if all(isinstance(e, int) and e == 1 for e in r):
        return xp
    sizes = [shape_i(xp, d) for d in range(n)]
    pattern = []
    for d in range(n):
        pattern += ["x", d]
    y = DimShuffle(xp.type.broadcastable, pattern)(xp)
    alloc_shape = []
    for d in range(n):
        alloc_shape += [r[d], sizes[d]]
    big = Alloc()(y, *alloc_shape)
    return reshape(big, [_mul(r[d], sizes[d]) for d in range(n)])


class Repeat(Op):
    """``numpy.repeat(x, repeats, axis)`` for a constant tuple of per-element repeats."""

    __props__ = ("repeats", "axis")

    def __init__(self, repeats, axis):
        self.repeats = tuple(int(r) for r in repeats)
        self.axis = int(axis)
        if any(r < 0 for r in self.repeats):
            raise ValueError(f"repeat: repeats must be >= 0, got {self.repeats}")

    def make_node(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.axis < x.type.ndim:
            raise ValueError(f"{self}: axis {self.axis} out of range for {x.type}")
        if x.type.broadcastable[self.axis] and len(self.repeats) != 1:
            raise ValueError(f"{self}: {len(self.repeats)} repeats for a broadcastable axis")
        bc = list(x.type.broadcastable)
        bc[self.axis] = sum(self.repeats) == 1 and x.type.broadcastable[self.axis]
        return Apply(self, [x], [TensorType(x.type.dtype, bc).make_variable()])

    def perform(self, node, inputs):
        x = np.asarray(inputs[0])
        if x.shape[self.axis] != len(self.repeats):
            raise ValueError(f"{self}: {len(self.repeats)} repeats for an axis of length "
                             f"{x.shape[self.axis]} (input shape {x.shape})")
        return [np.repeat(x, self.repeats, axis=self.axis)]

    def infer_shape(self, fgraph, node, input_shapes):
        s = list(input_shapes[0])
        s[self.axis] = sum(self.repeats)
        return [tuple(s)]

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        (gz,) = output_grads
        if x.type.dtype not in FLOAT_DTYPES:
            return [None]
        tm = _tm()
        n = len(self.repeats)
        pieces = Split(n, self.axis)(gz, constant(np.asarray(self.repeats, dtype="int64")))
        if n == 1:
            pieces = [pieces]
        sums = [tm.sum(p, axis=self.axis, keepdims=True) for p in pieces]
        g = sums[0] if n == 1 else Join(self.axis)(*sums)
        return [unbroadcast_grad(g, x)]


def repeat(x, repeats, axis=None):
    """Repeat elements of ``x`` (``numpy.repeat``); ``axis=None`` flattens first.

    ``repeats``: an int or int scalar (each element repeated that many times), or a
    constant list of ints (one per element along ``axis``).

    Example::

        >>> T.repeat(T.vector('v'), 3).ndim
        1
    """
    x = as_tensor_variable(x)
    if axis is None:
        x = flatten(x, 1)
        axis = 0
    nd = x.type.ndim
    if nd == 0:
        x = shape_padleft(x)
        nd = 1
    axis = _norm_join_axis(axis, nd, "repeat")
    if isinstance(repeats, (list, tuple, np.ndarray)) or (
            isinstance(repeats, Constant) and np.ndim(repeats.data) == 1):
        reps = np.asarray(repeats.data if isinstance(repeats, Constant) else repeats)
        if reps.ndim != 1 or (reps.size and reps.dtype.kind not in "iu"):
            raise TypeError(f"repeat: repeats must be an int or a list of ints, got {repeats!r}")
        if reps.size != 1:
            return Repeat(tuple(int(r) for r in reps), axis)(x)
        repeats = int(reps[0])
    if isinstance(repeats, Variable) and repeats.type.ndim != 0:
        raise TypeError(f"repeat: symbolic repeats must be an int scalar, got {repeats.type}")
    r = _static_int(repeats)
    if r is None:
        r = _as_int_scalar(repeats, "repeat", "repeats")
    elif r < 0:
        raise ValueError(f"repeat: repeats must be >= 0, got {r}")
    elif r == 1:
        return x
    sizes = [shape_i(x, d) for d in range(nd)]
    pattern = list(range(nd))
    pattern.insert(axis + 1, "x")
    y = DimShuffle(x.type.broadcastable, pattern)(x)
    big = Alloc()(y, *(sizes[:axis + 1] + [r] + sizes[axis + 1:]))
    new = sizes[:axis] + [_mul(sizes[axis], r)] + sizes[axis + 1:]
    return reshape(big, new)


class Flip(Op):
    """Reverse the order of elements along ``axis`` (a tuple). Returns a view."""

    __props__ = ("axis",)
    view_map = {0: [0]}

    def __init__(self, axis):
        self.axis = tuple(sorted(int(a) for a in axis))

    def make_node(self, x):
        x = as_tensor_variable(x)
        for a in self.axis:
            if not 0 <= a < x.type.ndim:
                raise ValueError(f"{self}: axis {a} out of range for {x.type}")
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        x = np.asarray(inputs[0])
        return [np.flip(x, self.axis) if self.axis else x]

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0])]

    def L_op(self, inputs, outputs, output_grads):
        if inputs[0].type.dtype not in FLOAT_DTYPES:
            return [None]
        return [Flip(self.axis)(output_grads[0])]


def flip(x, axis=None):
    """Reverse ``x`` along ``axis`` (an int, a tuple, or None for every axis).

    Example::

        >>> T.flip(T.matrix('m'), 1).ndim
        2
    """
    x = as_tensor_variable(x)
    nd = x.type.ndim
    if axis is None:
        axes = list(range(nd))
    else:
        axes = _axes(axis if isinstance(axis, (list, tuple)) else [axis], nd, "flip")
    if not axes:
        return x
    return Flip(tuple(axes))(x)
