"""Shape ops: ``shape``, reshape, flatten, transpose, dimshuffle helpers, rebroadcast,
specify_shape; and (from ``array_ops``, re-exported here) concatenate, stack, alloc, arange,
eye...

Names and semantics follow Theano's ``theano.tensor``. Static broadcastable patterns are
derived the Theano way: an output dimension is broadcastable only when it is known at
graph-build time to have length 1 (a constant 1 in a shape, or a broadcastable input
dimension that is carried over).

Example::

    >>> import symgraph.tensor as T
    >>> x = T.matrix('x')
    >>> T.flatten(x).ndim
    1
    >>> T.concatenate([x, x], axis=1).ndim
    2
"""
from __future__ import annotations

import builtins as _b
import numbers

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable, constant
from symgraph.tensor.elemwise import DimShuffle, unbroadcast_grad
from symgraph.tensor.type import FLOAT_DTYPES, INT_DTYPES, TensorType

__all__ = [
    # ops
    "Shape", "Shape_i", "MakeVector", "Reshape", "Rebroadcast", "SpecifyShape", "Join",
    "Split", "Alloc", "ARange", "Eye", "Flip", "Repeat",
    # functions
    "shape", "reshape", "flatten", "transpose", "swapaxes", "dimshuffle", "get_vector_length",
    "shape_padleft", "shape_padright", "shape_padaxis", "addbroadcast", "unbroadcast",
    "patternbroadcast",
    "squeeze", "specify_shape", "concatenate", "join", "stack", "stacklists", "horizontal_stack",
    "vertical_stack", "split", "alloc", "zeros", "ones", "arange", "eye", "identity_like",
    "tile", "repeat", "flip",
]

_ALL_INT = INT_DTYPES


def _tm():
    from symgraph.tensor import math as tm

    return tm


def _is_int_like(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def _static_int(v):
    """``v`` as a Python int when known at graph-build time, else None."""
    if _is_int_like(v):
        return int(v)
    if isinstance(v, Constant) and np.ndim(v.data) == 0 and np.asarray(v.data).dtype.kind in "iu":
        return int(v.data)
    return None


def _as_int_scalar(v, opname, what):
    """Convert ``v`` to a 0-d int64 variable; TypeError naming expected vs actual."""
    if _is_int_like(v):
        return constant(int(v), dtype="int64")
    if isinstance(v, (float, complex, bool, np.floating, np.bool_)):
        raise TypeError(f"{opname}: {what} must be an integer scalar, got {type(v).__name__} "
                        f"{v!r}")
    v = as_tensor_variable(v)
    if v.type.ndim != 0 or v.type.dtype not in _ALL_INT:
        raise TypeError(f"{opname}: {what} must be an integer scalar (0-d int tensor), got "
                        f"{v.type}")
    if isinstance(v, Constant):
        return constant(int(v.data), dtype="int64")
    return _tm().cast(v, "int64")


def _mul(*xs):
    """Product of shape entries (Python ints are folded)."""
    k = 1
    sym = []
    for x in xs:
        s = _static_int(x)
        if s is None:
            sym.append(x)
        else:
            k *= s
    if not sym:
        return k
    out = sym[0] if len(sym) == 1 else _tm().mul(*sym)
    return out if k == 1 else _tm().mul(out, constant(k, dtype="int64"))


def _add(*xs):
    """Sum of shape entries (Python ints are folded)."""
    k = 0
    sym = []
    for x in xs:
        s = _static_int(x)
        if s is None:
            sym.append(x)
        else:
            k += s
    if not sym:
        return k
    out = sym[0] if len(sym) == 1 else _tm().add(*sym)
    return out if k == 0 else _tm().add(out, constant(k, dtype="int64"))


# ----------------------------------------------------------------------- Shape, Shape_i

class Shape(Op):
    """The shape of a tensor as an int64 vector."""

    __props__ = ()

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (False,)).make_variable()])

    def perform(self, node, inputs):
        return [np.asarray(np.shape(inputs[0]), dtype="int64")]

    def infer_shape(self, fgraph, node, input_shapes):
        return [(node.inputs[0].type.ndim,)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


_shape = Shape()


def shape(x):
    """Symbolic shape of x (an int64 vector); ``x.shape[0]`` is a symbolic int64 scalar."""
    return _shape(as_tensor_variable(x))


class Shape_i(Op):
    """The length of dimension ``i`` of a tensor, as an int64 scalar (Theano's Shape_i)."""

    __props__ = ("i",)

    def __init__(self, i):
        self.i = int(i)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.i < x.type.ndim:
            raise TypeError(f"{self}: expected a tensor with more than {self.i} dimensions, "
                            f"got {x.type}")
        return Apply(self, [x], [TensorType("int64", ()).make_variable()])

    def perform(self, node, inputs):
        return [np.asarray(np.shape(inputs[0])[self.i], dtype="int64")]

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


def shape_i(x, i):
    """Length of dimension ``i`` of ``x``: a Python int when known, else an int64 scalar."""
    x = as_tensor_variable(x)
    if x.type.broadcastable[i]:
        return 1
    if isinstance(x, Constant):
        return int(np.shape(x.data)[i])
    return Shape_i(i)(x)


# ----------------------------------------------------------------------- MakeVector

class MakeVector(Op):
    """Build a vector from scalars of one dtype (``stack`` of 0-d tensors)."""

    __props__ = ("dtype",)

    def __init__(self, dtype="int64"):
        self.dtype = str(np.dtype(dtype))

    def make_node(self, *inputs):
        inputs = [as_tensor_variable(x) for x in inputs]
        for k, x in enumerate(inputs):
            if x.type.ndim != 0 or x.type.dtype != self.dtype:
                raise TypeError(f"{self}: input {k} must be a 0-d {self.dtype} tensor, got "
                                f"{x.type}")
        out = TensorType(self.dtype, (len(inputs) == 1,)).make_variable()
        return Apply(self, inputs, [out])

    def perform(self, node, inputs):
        return [np.array([np.asarray(v).item() for v in inputs], dtype=self.dtype)
                .reshape(len(inputs))]

    def infer_shape(self, fgraph, node, input_shapes):
        return [(len(node.inputs),)]

    def L_op(self, inputs, outputs, output_grads):
        if self.dtype not in FLOAT_DTYPES:
            return [None] * len(inputs)
        (gz,) = output_grads
        return [_tm().cast(g, self.dtype) for g in _vector_pieces(gz, len(inputs))]


def _vector_pieces(v, n):
    """The ``n`` elements of vector ``v`` as 0-d variables, without indexing ops."""
    if n == 0:
        return []
    if n == 1:
        if not v.type.broadcastable[0]:
            v = Rebroadcast((0, True))(v)
        return [DimShuffle(v.type.broadcastable, ())(v)]
    from symgraph.tensor.array_ops import Split

    pieces = Split(n, 0)(v, constant(np.ones(n, dtype="int64")))
    return [DimShuffle(p.type.broadcastable, ())(p) for p in pieces]


def _vector_entries(v, n=None, opname="", what="shape"):
    """Entries of a 1-d int vector (list of Python ints or 0-d int64 variables).

    Works from a Python list/tuple, a constant, a MakeVector, a Shape, or (given ``n``)
    any vector; raises ValueError when the length cannot be known.
    """
    if isinstance(v, (list, tuple)):
        return [_static_int(e) if _static_int(e) is not None else _as_int_scalar(e, opname, what)
                for e in v]
    if not isinstance(v, Variable):
        v = np.asarray(v)
        if v.ndim != 1 or (v.size and v.dtype.kind not in "iu"):
            raise TypeError(f"{opname}: {what} must be a 1-d sequence of integers, got {v!r}")
        return [int(e) for e in v]
    if v.type.ndim != 1 or v.type.dtype not in _ALL_INT:
        raise TypeError(f"{opname}: {what} must be an integer vector, got {v.type}")
    if isinstance(v, Constant):
        return [int(e) for e in np.asarray(v.data)]
    if v.owner is not None and isinstance(v.owner.op, MakeVector):
        return [_static_int(e) if _static_int(e) is not None else e for e in v.owner.inputs]
    if v.owner is not None and isinstance(v.owner.op, Shape):
        x = v.owner.inputs[0]
        return [shape_i(x, i) for i in range(x.type.ndim)]
    if n is None:
        n = _vector_length(v)
    if n is None:
        raise ValueError(f"{opname}: the length of the symbolic {what} {v} cannot be determined "
                         f"at graph-build time; pass ndim=")
    v = _tm().cast(v, "int64")
    return _vector_pieces(v, n)


def _vector_length(v):
    """Static length of a vector (None when unknown at graph-build time)."""
    if isinstance(v, (list, tuple)):
        return len(v)
    if not isinstance(v, Variable):
        return int(np.shape(v)[0]) if np.ndim(v) == 1 else None
    if v.type.ndim != 1:
        return None
    if v.type.broadcastable[0]:
        return 1
    if isinstance(v, Constant):
        return int(np.shape(v.data)[0])
    node = v.owner
    if node is None:
        return None
    op = node.op
    if isinstance(op, MakeVector):
        return len(node.inputs)
    if isinstance(op, Shape):
        return node.inputs[0].type.ndim
    if isinstance(op, Join):
        lens = [_vector_length(i) for i in node.inputs]
        return None if None in lens else sum(lens)
    if isinstance(op, (Rebroadcast, Flip, SpecifyShape)):
        return _vector_length(node.inputs[0])
    from symgraph.tensor.elemwise import Elemwise

    if isinstance(op, Elemwise):
        for i in node.inputs:
            if i.type.ndim == 1 and not i.type.broadcastable[0]:
                n = _vector_length(i)
                if n is not None:
                    return n
    # anything else (e.g. ``x.shape[1:]``): ask shape inference for a static length
    from symgraph.tensor.shape_inference import static_shape

    try:
        return static_shape(v)[0]
    except Exception:  # noqa: BLE001 - unknown stays unknown
        return None


def get_vector_length(v):
    """Length of vector ``v`` when it is known at graph-build time; ValueError otherwise.

    Example::

        >>> T.get_vector_length(T.shape(T.matrix('m')))
        2
    """
    n = _vector_length(v)
    if n is None:
        raise ValueError(f"get_vector_length: the length of {v} cannot be determined at "
                         f"graph-build time")
    return n


def _const_entries(v):
    """Static entries of a shape vector: list of int-or-None, or None if length unknown."""
    if isinstance(v, Constant):
        return [int(e) for e in np.asarray(v.data)]
    if v.owner is not None and isinstance(v.owner.op, MakeVector):
        return [_static_int(e) for e in v.owner.inputs]
    return None


def _make_shape_vector(entries):
    """An int64 vector variable from a list of ints / int64 scalars."""
    if all(isinstance(e, int) for e in entries):
        return constant(np.asarray(entries, dtype="int64").reshape(len(entries)))
    return MakeVector("int64")(*[constant(e, dtype="int64") if isinstance(e, int) else e
                                 for e in entries])


# ----------------------------------------------------------------------- Reshape

class Reshape(Op):
    """Reshape ``x`` to the int64 vector ``shp`` of length ``ndim`` (one entry may be -1).

    The output is a view when the input is contiguous (a copy otherwise).
    """

    __props__ = ("ndim",)
    view_map = {0: [0]}

    def __init__(self, ndim):
        self.ndim = int(ndim)

    def make_node(self, x, shp):
        x = as_tensor_variable(x)
        shp = as_tensor_variable(shp)
        if shp.type.ndim != 1 or shp.type.dtype not in _ALL_INT:
            raise TypeError(f"{self}: the new shape must be an integer vector, got {shp.type}")
        if shp.type.dtype != "int64":
            shp = _tm().cast(shp, "int64")
        static = _const_entries(shp)
        if static is not None and len(static) != self.ndim:
            raise ValueError(f"{self}: the new shape has {len(static)} entries, expected "
                             f"ndim={self.ndim}")
        if static is not None and sum(1 for s in static if s == -1) > 1:
            raise ValueError(f"{self}: at most one entry of the new shape may be -1, got "
                             f"{static}")
        if static is not None:
            bcast = tuple(s == 1 for s in static)
        elif (shp.owner is not None and isinstance(shp.owner.op, Shape)
              and shp.owner.inputs[0].type.ndim == self.ndim):
            bcast = shp.owner.inputs[0].type.broadcastable
        else:
            bcast = (False,) * self.ndim
        return Apply(self, [x, shp], [TensorType(x.type.dtype, bcast).make_variable()])

    def perform(self, node, inputs):
        x, shp = inputs
        x = np.asarray(x)
        shp = tuple(int(s) for s in np.asarray(shp).reshape(-1))
        if len(shp) != self.ndim:
            raise ValueError(f"{self}: the new shape {shp} has {len(shp)} entries, expected "
                             f"{self.ndim}")
        if any(s < -1 for s in shp) or sum(1 for s in shp if s == -1) > 1:
            raise ValueError(f"{self}: invalid new shape {shp} for input of shape {x.shape} "
                             f"(entries must be >= 0, with at most one -1)")
        try:
            out = x.reshape(shp)
        except ValueError:
            raise ValueError(f"{self}: cannot reshape input of shape {x.shape} (size {x.size}) "
                             f"into shape {shp}") from None
        return [out]

    def infer_shape(self, fgraph, node, input_shapes):
        tm = _tm()
        entries = _vector_entries(node.inputs[1], self.ndim, str(self))
        if not any(e is None or not isinstance(e, int) or e == -1 for e in entries):
            return [tuple(entries)]
        size = _mul(*input_shapes[0])
        req = _mul(*entries)
        if isinstance(req, int) and not isinstance(size, int):
            req = constant(req, dtype="int64")
        if isinstance(size, int):
            size = constant(size, dtype="int64")
        missing = tm.int_div(size, tm.maximum(tm.abs(req), constant(1, dtype="int64")))
        out = []
        for e in entries:
            if isinstance(e, int):
                out.append(missing if e == -1 else e)
            else:
                out.append(tm.switch(tm.eq(e, constant(-1, dtype="int64")), missing, e))
        return [tuple(out)]

    def L_op(self, inputs, outputs, output_grads):
        x, shp = inputs
        (gz,) = output_grads
        if x.type.dtype not in FLOAT_DTYPES and not x.type.dtype.startswith("complex"):
            return [None, None]
        g = Reshape(x.type.ndim)(gz, shape(x))
        return [unbroadcast_grad(g, x), None]


def resolve_reshape(op, size, in_shape, shp):
    """The target shape of ``Reshape`` ``op`` for an input of ``size`` elements (shape
    ``in_shape``), its -1 resolved; ValueError naming ``op`` where it does not fit. The
    rule every backend applies (numpy's: at most one -1, no other negative entry, equal
    sizes, and no -1 beside a zero): the CUDA backend resolves its reshapes with it, and
    the Numba backend's Python tier decides with it whether numpy may run one
    (``link/numba/tier_numpy.py``)."""
    shp = tuple(int(s) for s in np.asarray(shp).reshape(-1))
    if len(shp) != op.ndim:
        raise ValueError(f"{op}: the new shape {shp} has {len(shp)} entries, expected {op.ndim}")
    if any(s < -1 for s in shp) or sum(1 for s in shp if s == -1) > 1:
        raise ValueError(f"{op}: invalid new shape {shp} for input of shape {in_shape}")
    known = 1
    for s in shp:
        if s != -1:
            known *= s
    if -1 in shp:
        if known == 0 or size % known:
            raise ValueError(f"{op}: cannot reshape input of shape {in_shape} into {shp}")
        shp = tuple(size // known if s == -1 else s for s in shp)
    elif known != size:
        raise ValueError(f"{op}: cannot reshape input of shape {in_shape} (size {size}) into "
                         f"shape {shp}")
    return shp


def reshape(x, newshape, ndim=None):
    """Reshape ``x`` (Theano's ``T.reshape``).

    ``newshape`` is a tuple/list of ints and/or symbolic int scalars (one entry may be -1),
    or a symbolic int vector, in which case ``ndim`` must be given unless its length can
    be derived (e.g. ``y.shape``). Output dimensions are broadcastable only where the new
    shape has a constant 1.

    Example::

        >>> x = T.vector('x')
        >>> x.reshape((2, -1)).ndim
        2
    """
    x = as_tensor_variable(x)
    if _is_int_like(newshape) or (isinstance(newshape, Variable) and newshape.type.ndim == 0):
        newshape = [newshape]
    if isinstance(newshape, (list, tuple)):
        entries = _vector_entries(list(newshape), opname="reshape", what="new shape")
        if ndim is not None and int(ndim) != len(entries):
            raise ValueError(f"reshape: ndim={ndim} but the new shape has {len(entries)} "
                             f"entries")
        ints = [e for e in entries if isinstance(e, int)]
        if sum(1 for e in ints if e == -1) > 1 or any(e < -1 for e in ints):
            raise ValueError(f"reshape: invalid new shape {tuple(newshape)} (entries must be "
                             f">= 0, with at most one -1)")
        return Reshape(len(entries))(x, _make_shape_vector(entries))
    shp = as_tensor_variable(newshape)
    if shp.type.ndim != 1 or shp.type.dtype not in _ALL_INT:
        raise TypeError(f"reshape: the new shape must be an integer vector or a tuple of "
                        f"ints, got {shp.type}")
    if ndim is None:
        ndim = _vector_length(shp)
        if ndim is None:
            raise ValueError(f"reshape: the length of the symbolic shape {shp} cannot be "
                             f"determined at graph-build time; pass ndim=")
    return Reshape(int(ndim))(x, shp)


def flatten(x, ndim=None, outdim=None):
    """Keep the first ``ndim - 1`` dimensions and flatten the rest (Theano semantics).

    Example::

        >>> T.flatten(T.tensor3('x'), 2).ndim    # (a, b, c) -> (a, b*c)
        2
    """
    if ndim is None:
        ndim = 1 if outdim is None else outdim
    x = as_tensor_variable(x)
    ndim = int(ndim)
    if ndim < 1 or (ndim > 1 and ndim > x.type.ndim):
        raise ValueError(f"flatten: ndim={ndim} out of bounds [1, {x.type.ndim}] for {x.type}")
    kept = [shape_i(x, i) for i in range(ndim - 1)]
    last = -1
    if _b.all(x.type.broadcastable[ndim - 1:]):
        last = 1
    return reshape(x, kept + [last])


# ----------------------------------------------------------------------- DimShuffle helpers

def dimshuffle(x, pattern):
    """Reorder axes, insert broadcastable axes ('x') and drop broadcastable ones.

    Example::

        >>> T.dimshuffle(T.vector('b'), ('x', 0)).broadcastable
        (True, False)
    """
    x = as_tensor_variable(x)
    pattern = tuple(pattern)
    return DimShuffle(x.type.broadcastable, pattern)(x)


def transpose(x, axes=None):
    """Permute the axes of ``x`` (reverse them when ``axes`` is None).

    Example::

        >>> T.transpose(T.matrix('x')).ndim
        2
    """
    x = as_tensor_variable(x)
    nd = x.type.ndim
    if axes is None:
        axes = tuple(range(nd - 1, -1, -1))
    axes = tuple(int(a) for a in axes)
    if len(axes) != nd or sorted(a % nd if nd else a for a in axes) != list(range(nd)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {nd} axes "
                         f"of {x.type}")
    axes = tuple(a % nd for a in axes)
    if axes == tuple(range(nd)):
        return x
    return DimShuffle(x.type.broadcastable, axes)(x)


def swapaxes(y, axis1, axis2):
    """Interchange two axes of ``y``.

    Example::

        >>> T.swapaxes(T.tensor3('x'), 0, 2).ndim
        3
    """
    y = as_tensor_variable(y)
    nd = y.type.ndim
    a, b = _axes([axis1, axis2], nd, "swapaxes")
    order = list(range(nd))
    order[a], order[b] = order[b], order[a]
    return transpose(y, order)


def shape_padleft(t, n_ones=1):
    """Add ``n_ones`` broadcastable dimensions on the left.

    Example::

        >>> T.shape_padleft(T.vector('v')).broadcastable
        (True, False)
    """
    t = as_tensor_variable(t)
    return DimShuffle(t.type.broadcastable, ["x"] * n_ones + list(range(t.type.ndim)))(t)


def shape_padright(t, n_ones=1):
    """Add ``n_ones`` broadcastable dimensions on the right.

    Example::

        >>> T.shape_padright(T.vector('v')).broadcastable
        (False, True)
    """
    t = as_tensor_variable(t)
    return DimShuffle(t.type.broadcastable, list(range(t.type.ndim)) + ["x"] * n_ones)(t)


def shape_padaxis(t, axis):
    """Insert a broadcastable dimension at ``axis`` (negative counts from the end).

    Example::

        >>> T.shape_padaxis(T.matrix('m'), 1).broadcastable
        (False, True, False)
    """
    t = as_tensor_variable(t)
    nd = t.type.ndim + 1
    if not -nd <= axis < nd:
        raise IndexError(f"shape_padaxis: axis {axis} is out of bounds for a result of "
                         f"{nd} dimensions")
    axis %= nd
    pattern = list(range(t.type.ndim))
    pattern.insert(axis, "x")
    return DimShuffle(t.type.broadcastable, pattern)(t)


# ----------------------------------------------------------------------- Rebroadcast

class Rebroadcast(Op):
    """Change the broadcastable flag of some axes; ``(axis, True)`` is checked at run time
    (the dimension must have length 1). Returns the input (a view)."""

    __props__ = ("axis",)
    view_map = {0: [0]}

    def __init__(self, *axis):
        self.axis = tuple(sorted((int(a), bool(b)) for a, b in dict(axis).items()))

    def __str__(self):
        return "Rebroadcast{" + ",".join(f"{a}:{'T' if b else 'F'}" for a, b in self.axis) + "}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        for a, _ in self.axis:
            if not 0 <= a < x.type.ndim:
                raise ValueError(f"{self}: axis {a} out of range for input {x.type}")
        bc = list(x.type.broadcastable)
        for a, b in self.axis:
            bc[a] = b
        return Apply(self, [x], [TensorType(x.type.dtype, bc).make_variable()])

    def perform(self, node, inputs):
        (x,) = inputs
        shp = np.shape(x)
        for a, b in self.axis:
            if b and shp[a] != 1:
                raise ValueError(f"{self}: dimension {a} is marked broadcastable and must have "
                                 f"length 1, but the input has shape {shp}")
        return [x]

    def infer_shape(self, fgraph, node, input_shapes):
        s = list(input_shapes[0])
        for a, b in self.axis:
            if b:
                s[a] = 1
        return [tuple(s)]

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        (gz,) = output_grads
        if x.type.dtype not in FLOAT_DTYPES:
            return [None]
        changes = [(a, x.type.broadcastable[a]) for a, _ in self.axis
                   if gz.type.broadcastable[a] != x.type.broadcastable[a]
                   and x.type.broadcastable[a]]
        g = Rebroadcast(*changes)(gz) if changes else gz
        return [unbroadcast_grad(g, x)]


def patternbroadcast(x, broadcastable):
    """Give ``x`` the broadcastable pattern ``broadcastable`` (checked at run time).

    Example::

        >>> T.patternbroadcast(T.matrix('m'), (True, False)).broadcastable
        (True, False)
    """
    x = as_tensor_variable(x)
    broadcastable = tuple(bool(b) for b in broadcastable)
    if len(broadcastable) != x.type.ndim:
        raise TypeError(f"patternbroadcast: pattern {broadcastable} has {len(broadcastable)} "
                        f"entries, expected {x.type.ndim} for {x.type}")
    changes = [(i, b) for i, b in enumerate(broadcastable) if x.type.broadcastable[i] != b]
    if not changes:
        return x
    return Rebroadcast(*changes)(x)


def _axes(axes, nd, what):
    out = []
    for a in axes:
        if isinstance(a, (list, tuple)):
            out.extend(_axes(a, nd, what))
            continue
        if not _is_int_like(a):
            raise TypeError(f"{what}: axes must be ints, got {a!r}")
        if not -nd <= a < nd:
            raise ValueError(f"{what}: axis {a} out of range for a {nd}-d tensor")
        out.append(int(a) % nd)
    return out


def addbroadcast(x, *axes):
    """Mark ``axes`` of ``x`` broadcastable (checked to have length 1 at run time).

    Example::

        >>> T.addbroadcast(T.matrix('m'), 0).broadcastable
        (True, False)
    """
    x = as_tensor_variable(x)
    bc = list(x.type.broadcastable)
    for a in _axes(axes, x.type.ndim, "addbroadcast"):
        bc[a] = True
    return patternbroadcast(x, bc)


def unbroadcast(x, *axes):
    """Mark ``axes`` of ``x`` not broadcastable.

    Example::

        >>> T.unbroadcast(T.row('r'), 0).broadcastable
        (False, False)
    """
    x = as_tensor_variable(x)
    bc = list(x.type.broadcastable)
    for a in _axes(axes, x.type.ndim, "unbroadcast"):
        bc[a] = False
    return patternbroadcast(x, bc)


def squeeze(x, axis=None):
    """Drop broadcastable dimensions (``axis=None``), or the given axes (which must have
    length 1: non-broadcastable ones are checked at run time).

    Example::

        >>> T.squeeze(T.row('r')).ndim
        1
    """
    x = as_tensor_variable(x)
    nd = x.type.ndim
    if axis is None:
        drop = [i for i in range(nd) if x.type.broadcastable[i]]
    else:
        drop = _axes(axis if isinstance(axis, (list, tuple)) else [axis], nd, "squeeze")
        x = addbroadcast(x, *drop)
    if not drop:
        return x
    return DimShuffle(x.type.broadcastable, [i for i in range(nd) if i not in drop])(x)


# ----------------------------------------------------------------------- SpecifyShape

class SpecifyShape(Op):
    """Assert at run time that ``x`` has the given shape; lets shape inference use it."""

    __props__ = ()
    view_map = {0: [0]}

    def make_node(self, x, *shape):
        x = as_tensor_variable(x)
        if len(shape) != x.type.ndim:
            raise TypeError(f"{self}: expected {x.type.ndim} shape entries for {x.type}, got "
                            f"{len(shape)}")
        shape = [_as_int_scalar(s, str(self), "a shape entry") for s in shape]
        for d, s in enumerate(shape):
            v = _static_int(s)
            if x.type.broadcastable[d] and v is not None and v != 1:
                raise ValueError(f"{self}: dimension {d} of {x.type} is broadcastable (length "
                                 f"1), but the specified length is {v}")
        return Apply(self, [x, *shape], [x.type.make_variable()])

    def perform(self, node, inputs):
        x = inputs[0]
        want = tuple(int(s) for s in inputs[1:])
        if np.shape(x) != want:
            raise ValueError(f"{self}: expected input shape {want}, got {np.shape(x)}")
        return [x]

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(_static_int(s) if _static_int(s) is not None else s
                      for s in node.inputs[1:])]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]] + [None] * (len(inputs) - 1)


def specify_shape(x, shape):
    """Declare (and check at run time) the shape of ``x``.

    Example::

        >>> x = T.specify_shape(T.matrix('x'), (2, 3))
    """
    x = as_tensor_variable(x)
    entries = _vector_entries(shape if isinstance(shape, (list, tuple, Variable))
                              else list(np.atleast_1d(shape)), x.type.ndim,
                              "specify_shape", "shape")
    if len(entries) != x.type.ndim:
        raise TypeError(f"specify_shape: expected {x.type.ndim} shape entries for {x.type}, got "
                        f"{len(entries)}")
    return SpecifyShape()(x, *entries)


# The array-building ops, defined in array_ops (imported last: it uses the helpers above).
from symgraph.tensor.array_ops import (  # noqa: E402,F401
    Alloc,
    ARange,
    Eye,
    Flip,
    Join,
    Repeat,
    Split,
    _filled,
    _hv_stack,
    _norm_join_axis,
    alloc,
    arange,
    concatenate,
    eye,
    flip,
    horizontal_stack,
    identity_like,
    join,
    ones,
    repeat,
    split,
    stack,
    stacklists,
    tile,
    vertical_stack,
    zeros,
)
