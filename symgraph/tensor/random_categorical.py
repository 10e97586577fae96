"""``RandomStreams.multinomial`` and ``RandomStreams.choice`` (Theano's
``shared_randomstreams`` / numpy ``RandomState`` semantics), drawn from the streams'
uniforms through the categorical ops of ``symgraph.tensor.categorical``.

Why here and not in ``random.py``: they are compositions (uniform draws + a deterministic
categorical op) rather than new distributions of the Philox generator, and ``random.py``
is already long. ``RandomStreams`` delegates to these functions.

Semantics (numpy's): ``multinomial(size, n, pvals)`` gives counts of shape ``size +
(len(pvals),)`` (``size=None``: ``pvals.shape[:-1]``), the last category taking whatever
probability the others leave (numpy ignores ``pvals[-1]``); ``choice(size, a, replace,
p)`` draws from ``range(a)`` (``a`` an int) or from the vector ``a``, with or without
replacement, uniformly or with probabilities ``p``.
"""
from __future__ import annotations

import numbers

import numpy as np

from symgraph.graph.basic import Variable
from symgraph.tensor.basic import as_tensor_variable, constant

__all__ = ["multinomial", "choice"]


def _T():
    import symgraph.tensor as T

    return T


def _size_tuple(size, what):
    if size is None:
        return None
    if isinstance(size, (numbers.Integral, np.integer)) and not isinstance(size, bool):
        size = (int(size),)
    if isinstance(size, Variable):
        raise TypeError(f"{what}: size must be None, an int or a tuple (a symbolic vector is "
                        f"not supported here); use a tuple of int scalars")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"{what}: size must be None, an int or a tuple, got {size!r}")
    for s in size:
        if isinstance(s, (numbers.Integral, np.integer)) and s < 0:
            raise ValueError(f"{what}: negative dimension in size {tuple(size)}")
    return tuple(size)


def _uniform_flat(streams, count):
    """``count`` float64 uniforms (a flat vector) from a new stream of ``streams``."""
    u, _, _ = streams._draw("uniform", "float64", [count], [None], [False])
    return u


def multinomial(streams, size=None, n=1, pvals=None, ndim=None, dtype="int64"):
    T = _T()
    from symgraph.tensor.categorical import MultinomialFromUniform

    if pvals is None:
        pvals = [0.5, 0.5]
    pvals = as_tensor_variable(pvals if isinstance(pvals, Variable)
                               else np.asarray(pvals, dtype="float64"))
    if pvals.type.ndim < 1:
        raise TypeError(f"multinomial: pvals must have at least one dimension, got "
                        f"{pvals.type}")
    if pvals.type.dtype != "float64":
        pvals = T.cast(pvals, "float64")
    size = _size_tuple(size, "multinomial")
    if ndim is not None and size is not None and ndim != len(size):
        raise ValueError(f"multinomial: ndim={ndim} but size {size} has {len(size)} entries")
    k = pvals.shape[-1]
    batch = pvals.shape[:-1] if size is None else T.stack(
        [T.cast(s, "int64") for s in size]) if size else T.constant(np.zeros(0, "int64"))
    nb = pvals.type.ndim - 1 if size is None else len(size)
    rows = T.prod(batch, dtype="int64") if nb else T.constant(1, dtype="int64")
    full = T.alloc(pvals, *([batch[i] for i in range(nb)] + [k])) if nb else pvals
    p2 = T.reshape(full, T.stack([rows, k]), ndim=2)
    # the last category takes the remainder (numpy ignores pvals[-1])
    from symgraph.tensor.subtensor import set_subtensor

    p2 = set_subtensor(p2[:, -1], 1.0)
    n_v = as_tensor_variable(n)
    if n_v.type.ndim != 0 or not n_v.type.dtype.startswith(("int", "uint")):
        raise TypeError(f"multinomial: n must be an integer scalar, got {n!r}")
    unis = _uniform_flat(streams, rows * T.cast(n_v, "int64"))
    counts = MultinomialFromUniform(dtype)(p2, unis, n_v)
    shape = [batch[i] for i in range(nb)] + [k]
    out = T.reshape(counts, T.stack([T.cast(s, "int64") for s in shape]), ndim=nb + 1)
    return streams._finish(out, unis)


def choice(streams, size=None, a=2, replace=True, p=None, ndim=None, dtype="int64"):
    T = _T()
    from symgraph.tensor.categorical import ChoiceFromUniform

    size = _size_tuple(size, "choice")
    if size is None:
        size = ()
    if ndim is not None and ndim != len(size):
        raise ValueError(f"choice: ndim={ndim} but size {size} has {len(size)} entries")
    if isinstance(a, (numbers.Integral, np.integer)) and not isinstance(a, bool):
        if a <= 0:
            raise ValueError(f"choice: a must be positive, got {a}")
        n_pop = constant(int(a), dtype="int64")
        values = None
    else:
        values = as_tensor_variable(a)
        if values.type.ndim == 0:
            n_pop = T.cast(values, "int64")
            values = None
        elif values.type.ndim == 1:
            n_pop = values.shape[0]
        else:
            raise TypeError(f"choice: a must be an int or a vector, got {values.type}")
    shape_v = T.stack([T.cast(s, "int64") for s in size]) if size else None
    total = T.prod(shape_v, dtype="int64") if size else constant(1, dtype="int64")
    if p is not None:
        p = as_tensor_variable(p if isinstance(p, Variable) else np.asarray(p, "float64"))
        if p.type.ndim != 1:
            raise TypeError(f"choice: p must be a vector, got {p.type}")
        p = T.cast(p, "float64")
    unis = _uniform_flat(streams, total)
    if replace:
        if p is None:
            idx = T.minimum(T.floor(unis * T.cast(n_pop, "float64")),
                            T.cast(n_pop, "float64") - 1.0)
            idx = T.cast(idx, "int64")
        else:
            from symgraph.tensor.extra_ops import cumsum, searchsorted

            c = cumsum(p)
            idx = T.minimum(searchsorted(c, unis * c[-1], side="right"), n_pop - 1)
    else:
        pr = (T.ones(T.stack([n_pop]), dtype="float64") / T.cast(n_pop, "float64")
              if p is None else p)
        idx = ChoiceFromUniform("int64")(pr.dimshuffle("x", 0), unis, total)[0]
    out = idx if values is None else values[idx]
    if values is None and out.type.dtype != dtype:
        out = T.cast(out, dtype)
    out = T.reshape(out, shape_v, ndim=len(size)) if size else out[0]
    return streams._finish(out, unis)
