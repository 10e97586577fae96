"""TensorVariable: the symbolic array users manipulate, with numpy-like operators.

Methods delegate to the functions in ``symgraph.tensor`` (imported lazily: the op modules
import this one).

Example::

    >>> import symgraph.tensor as T
    >>> x = T.matrix('x')
    >>> (x.T.dot(x) + 1).sum(axis=0).ndim
    1
"""
from __future__ import annotations

from symgraph.config import config as _config
from symgraph.graph.basic import Constant, Variable


def _T():
    import symgraph.tensor as T

    return T


class _TensorMixin:
    """Operators and array-like methods shared by variables, constants and shared vars."""

    # -- arithmetic -------------------------------------------------------------
    def __add__(self, o): return _T().add(self, o)
    def __radd__(self, o): return _T().add(o, self)
    def __sub__(self, o): return _T().sub(self, o)
    def __rsub__(self, o): return _T().sub(o, self)
    def __mul__(self, o): return _T().mul(self, o)
    def __rmul__(self, o): return _T().mul(o, self)
    def __truediv__(self, o): return _T().true_div(self, o)
    def __rtruediv__(self, o): return _T().true_div(o, self)
    def __floordiv__(self, o): return _T().int_div(self, o)
    def __rfloordiv__(self, o): return _T().int_div(o, self)
    def __mod__(self, o): return _T().mod(self, o)
    def __rmod__(self, o): return _T().mod(o, self)
    def __pow__(self, o): return _T().pow(self, o)
    def __rpow__(self, o): return _T().pow(o, self)
    def __neg__(self): return _T().neg(self)
    def __pos__(self): return self
    def __abs__(self): return _T().abs(self)
    def __matmul__(self, o): return _T().dot(self, o)
    def __rmatmul__(self, o): return _T().dot(o, self)

    # comparisons (== and != stay identity-based, as in Theano: use T.eq / T.neq). Their
    # results are the only variables without a truth value (see ``__bool__``)
    def __lt__(self, o): return _no_truth(_T().lt(self, o))
    def __le__(self, o): return _no_truth(_T().le(self, o))
    def __gt__(self, o): return _no_truth(_T().gt(self, o))
    def __ge__(self, o): return _no_truth(_T().ge(self, o))

    def __and__(self, o): return _T().and_(self, o)
    def __rand__(self, o): return _T().and_(o, self)
    def __or__(self, o): return _T().or_(self, o)
    def __ror__(self, o): return _T().or_(o, self)
    def __xor__(self, o): return _T().xor(self, o)
    def __rxor__(self, o): return _T().xor(o, self)
    def __invert__(self): return _T().invert(self)

    #: numpy defers to these operators (``ndarray + variable`` -> ``variable.__radd__``)
    #: instead of building an object array of variables element by element
    __array_priority__ = 1000
    __array_ufunc__ = None

    def __bool__(self):
        # Theano's rule: every variable is truthy (``if not W:`` tests for a missing
        # optional parameter), except the result of ``<``, ``<=``, ``>``, ``>=``, so that
        # ``a < b < c`` (Python's ``(a < b) and (b < c)``) fails loudly
        if self.__dict__.get("_is_nonzero", True):
            return True
        raise TypeError(
            f"the comparison {self} has no truth value: use T.switch(cond, a, b) instead "
            f"of `if`, and T.and_/T.or_ (or & and |) instead of `and`/`or` (a < b < c is "
            f"(a < b) and (b < c)).")

    def __iter__(self):
        # a vector whose length is known when the graph is built (``x.shape``, a
        # constant, a stack) unpacks: ``seq_len, batch, _ = x.shape``
        n = _T().shape_ops._vector_length(self) if self.type.ndim == 1 else None
        if n is None:
            raise TypeError(
                f"{self} ({self.type}) cannot be iterated: only a vector whose length is "
                f"known when the graph is built (x.shape, a constant, T.stack(...)) can. "
                f"Index it (x[i]); or did you call the builtin sum/max instead of T.sum/T.max?")
        return (self[i] for i in range(n))

    def __len__(self):
        raise TypeError("len() of a symbolic variable is unknown; use x.shape[0].")

    # -- attributes --------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def broadcastable(self):
        return self.type.broadcastable

    @property
    def shape(self):
        return _T().shape(self)

    @property
    def size(self):
        return _T().prod(self.shape)

    @property
    def T(self):
        return _T().transpose(self)

    # -- methods -----------------------------------------------------------------
    def __getitem__(self, idx):
        return _T().subtensor.getitem(self, idx)

    def sum(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _T().sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def prod(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _T().prod(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _T().mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _T().max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _T().min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return _T().argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return _T().argmin(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        return _T().var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return _T().std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return _T().any(self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return _T().all(self, axis=axis, keepdims=keepdims)

    def reshape(self, shape, *more, ndim=None):
        if more:
            shape = (shape,) + tuple(more)
        return _T().reshape(self, shape, ndim=ndim)

    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = tuple(pattern[0])
        return _T().dimshuffle(self, pattern)

    def flatten(self, ndim=1):
        return _T().flatten(self, ndim)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        return _T().transpose(self, axes or None)

    def astype(self, dtype):
        return _T().cast(self, dtype)

    def dot(self, other):
        return _T().dot(self, other)

    def clip(self, a_min, a_max):
        return _T().clip(self, a_min, a_max)

    def round(self, mode=None):
        return _T().round(self, mode)

    def copy(self, name=None):
        out = _T().tensor_copy(self)
        out.name = name
        return out

    def nonzero(self, return_matrix=False):
        return _T().nonzero(self, return_matrix)

    def nonzero_values(self):
        return self.flatten()[_T().flatnonzero(self)]

    def sort(self, axis=-1, kind="quicksort", order=None):
        return _T().sort(self, axis, kind, order)

    def squeeze(self):
        return _T().squeeze(self)

    def repeat(self, repeats, axis=None):
        return _T().repeat(self, repeats, axis)

    def cumsum(self, axis=None):
        return _T().cumsum(self, axis)

    def cumprod(self, axis=None):
        return _T().cumprod(self, axis)

    def argsort(self, axis=-1, kind="quicksort", order=None):
        return _T().argsort(self, axis, kind, order)

    def norm(self, L=2, axis=None):
        T = _T()
        if L == 1:
            return T.sum(T.abs(self), axis=axis)
        if L == 2:
            return T.sqrt(T.sum(T.sqr(self), axis=axis))
        return T.sum(T.abs(self) ** L, axis=axis) ** (1.0 / L)


def _no_truth(v):
    v._is_nonzero = False
    return v


class TensorVariable(_TensorMixin, Variable):
    """A symbolic tensor (an input or the result of an op)."""

    def __init__(self, type, owner=None, index=None, name=None):
        super().__init__(type, owner, index, name)
        if _config.warn_float64 != "ignore" and getattr(type, "dtype", None) == "float64":
            from symgraph.tensor.float64_check import float64_created

            float64_created(self)


class TensorConstant(_TensorMixin, Constant):
    """A tensor with a value fixed at graph-construction time."""

    @property
    def value(self):
        return self.data
