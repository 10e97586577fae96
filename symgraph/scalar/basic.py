"""``theano.scalar.basic``: the scalar operations ``Elemwise`` maps over arrays, and dtype rules.

Theano programs reach into this namespace for its dtype helpers (the Deep Learning
Tutorials' Hamiltonian Monte Carlo computes ``theano.scalar.upcast(accept.dtype,
rate.dtype)`` for a mean's dtype) and for scalar ops to build elementwise ops from
(``T.Elemwise(theano.scalar.add)``). The ops are ``symgraph.tensor.scalar_ops``'s, under
Theano's names; this module only gathers them.

Example::

    >>> from symgraph.scalar.basic import upcast
    >>> upcast("int8", "float32")
    'float32'
"""
from __future__ import annotations

from symgraph.tensor.elemwise import Composite  # noqa: F401
from symgraph.tensor.scalar_ops import (  # noqa: F401
    Add,
    Cast,
    Mul,
    ScalarOp,
    Sigmoid,
    Softplus,
    Sub,
    TrueDiv,
    abs_,
    add,
    and_,
    arccos,
    arcsin,
    arctan,
    arctan2,
    ceil,
    clip,
    cos,
    cosh,
    eq,
    erf,
    exp,
    exp2,
    expm1,
    floor,
    ge,
    gt,
    identity,
    int_div,
    invert,
    isinf,
    isnan,
    le,
    log,
    log1p,
    log2,
    log10,
    lt,
    maximum,
    minimum,
    mod,
    mul,
    neg,
    neq,
    or_,
    reciprocal,
    round_half_away_from_zero,
    round_half_to_even,
    second,
    sgn,
    sigmoid,
    sin,
    sinh,
    softplus,
    sqr,
    sqrt,
    sub,
    switch,
    tan,
    tanh,
    true_div,
    trunc,
    xor,
)
from symgraph.tensor.scalar_ops import pow_ as pow  # noqa: F401,A001

# ``upcast``: numpy's promotion (``upcast('int64', 'float32') == 'float64'``), as Theano's
# default ``cast_policy`` gives it
from symgraph.tensor.type import upcast, upgrade_to_float  # noqa: F401

__all__ = sorted(n for n in dir() if not n.startswith("_") and n != "annotations")
