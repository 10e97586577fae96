"""Stable forms of numerically fragile expressions, written once for values and gradients.

Hand-written Theano code spells the logistic family out: ``1 / (1 + exp(-z))``,
``log(p)``, ``log(1 - p)``, ``log(1 + exp(z))``, ``log(sum(exp(x)))``. Evaluated as
written these overflow (``exp(100)`` in float32) or divide 0 by 0 in their gradients
(``d log(p) = dp / p`` with ``p`` rounded to 0). Each *form* here recognizes one such
pattern at a node and returns the same quantity built from stable primitives:

- ``1 / (1 + exp(t))``, ``inv(1 + exp(t))``, ``k / (exp(t) + 1)`` -> ``k * sigmoid(-t)``;
- ``exp(t) / (1 + exp(t))`` -> ``sigmoid(t)``;
- ``1 - sigmoid(z)`` -> ``sigmoid(-z)``;
- ``log(sigmoid(z))`` -> ``-softplus(-z)``; ``log1p(-sigmoid(z))`` -> ``-softplus(z)``;
- ``log(1 + exp(z))``, ``log1p(exp(z))`` -> ``softplus(z)``;
- ``log(sum(exp(x), axis))`` -> ``m + log(sum(exp(x - m), axis))`` with ``m = max(x, axis)``;
- ``log(softmax(x))`` -> ``log_softmax(x)``;
- for gradients only: ``sqrt(sum(x ** 2))`` (a norm) gets the gradient 0 at ``x = 0`` (the
  minimum-norm subgradient) instead of ``0 / 0``.

Why here, in ``tensor/`` and not only in the optimizer: a stable *value* is not enough.
``grad`` differentiates the graph as the user wrote it, so ``grad(log(1 / (1 + exp(-z))))``
contains ``1 / p`` and is NaN at ``z = -100`` whatever the optimizer later does to the
value. ``grad`` therefore rewrites the cost with these forms *before* differentiating
(``stabilize_graph``), and the optimizer's ``stabilize`` phase applies the same forms to
the values of compiled functions (``symgraph.rewriting.stabilize``). One list, two users.

A form is ``fn(node, inside) -> Variable | None``: ``inside(v)`` returns the node that
computes ``v`` when the form may look through it (``None`` for graph inputs and for
variables the caller marks as leaves, such as ``grad``'s ``wrt`` and
``consider_constant``). The replacement has the node output's value; the callers check
that its type matches.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant, toposort
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.math import Reduce
from symgraph.tensor.nnet.basic import LogSoftmax, Softmax
from symgraph.tensor.random import RandomDraw

FORMS: list = []
#: forms that only matter for gradients (their value is already exact): ``grad`` applies
#: them, the optimizer does not (it would add work to every forward pass)
GRAD_FORMS: list = []


def form(fn):
    """Register ``fn`` as a stable form (used by ``grad`` and the optimizer)."""
    FORMS.append(fn)
    return fn


def grad_form(fn):
    """Register ``fn`` as a form ``grad`` applies before differentiating (values unchanged)."""
    GRAD_FORMS.append(fn)
    return fn


# ------------------------------------------------------------------------- helpers

def _T():
    import symgraph.tensor as T

    return T


def _scalar_op(v, inside):
    node = inside(v)
    if node is not None and isinstance(node.op, Elemwise):
        return node.op.scalar_op
    return None


def _is(v, cls, inside):
    return isinstance(_scalar_op(v, inside), cls)


def plain_owner(v):
    """``inside`` for callers with no leaves: look through every node."""
    return v.owner


def constant_value(v, inside=plain_owner):
    """The value of ``v`` if it is a constant whose elements are all equal (else None),
    looking through DimShuffles (Elemwise pads constants with them); ``inside`` as for
    the forms (the optimizer's pattern helpers use the plain ``owner``)."""
    while True:
        node = inside(v)
        if node is None or not isinstance(node.op, DimShuffle):
            break
        v = node.inputs[0]
    if isinstance(v, Constant):
        d = np.asarray(v.data)
        if d.size:
            first = d.reshape(-1)[0]
            if d.size == 1 or np.all(d == first):
                return first.item() if hasattr(first, "item") else first
    return None



def _is_one(v, inside):
    c = constant_value(v, inside)
    return c is not None and c == 1


def same(a, b, depth=8):
    """Structural equality: the same variable, equal constants, or the same op on the same
    inputs (so ``exp(z) / (1 + exp(z))`` is recognized with two separate ``exp`` nodes)."""
    if a is b:
        return True
    if a.type != b.type:
        return False
    if isinstance(a, Constant) and isinstance(b, Constant):
        return np.array_equal(np.asarray(a.data), np.asarray(b.data))
    if depth == 0 or a.owner is None or b.owner is None:
        return False
    na, nb = a.owner, b.owner
    return (a.index == b.index and na.op == nb.op and len(na.inputs) == len(nb.inputs)
            and all(same(x, y, depth - 1) for x, y in zip(na.inputs, nb.inputs)))


def _neg(v, inside):
    """``-v``, with ``-(-a)`` written ``a``: the optimizer applies these forms after its
    canonicalize phase and ``grad`` before it, so both must build the same graph for the
    forward value and the gradient's copy of it to merge."""
    if _is(v, ts.Neg, inside):
        return inside(v).inputs[0]
    return _T().neg(v)


def _one_plus_exp(v, inside):
    """``t`` when ``v`` is ``1 + exp(t)`` or ``exp(t) + 1``, else None."""
    if not _is(v, ts.Add, inside):
        return None
    terms = inside(v).inputs
    if len(terms) != 2:
        return None
    for a, b in (terms, terms[::-1]):
        if _is_one(a, inside) and _is(b, ts.Exp, inside):
            return inside(b).inputs[0]
    return None


# --------------------------------------------------------------------------- forms

@form
def sigmoid_from_reciprocal(node, inside):
    """``k / (1 + exp(t))`` and ``inv(1 + exp(t))`` -> ``k * sigmoid(-t)``;
    ``exp(t) / (1 + exp(t))`` -> ``sigmoid(t)``."""
    T = _T()
    so = node.op.scalar_op
    if isinstance(so, ts.Reciprocal):
        t = _one_plus_exp(node.inputs[0], inside)
        return None if t is None else T.sigmoid(_neg(t, inside))
    if not isinstance(so, ts.TrueDiv):
        return None
    num, den = node.inputs
    t = _one_plus_exp(den, inside)
    if t is None:
        return None
    if _is(num, ts.Exp, inside) and same(inside(num).inputs[0], t):
        return T.sigmoid(t)
    k = constant_value(num, inside)
    if k is None:
        return None
    s = T.sigmoid(_neg(t, inside))
    return s if k == 1 else T.mul(num, s)


@form
def one_minus_sigmoid(node, inside):
    """``1 - sigmoid(z)`` -> ``sigmoid(-z)``."""
    if isinstance(node.op.scalar_op, ts.Sub) and _is_one(node.inputs[0], inside) \
            and _is(node.inputs[1], ts.Sigmoid, inside):
        T = _T()
        return T.sigmoid(_neg(inside(node.inputs[1]).inputs[0], inside))
    return None


@form
def log_sigmoid(node, inside):
    """``log(sigmoid(z))`` -> ``-softplus(-z)``; ``log1p(-sigmoid(z))`` -> ``-softplus(z)``."""
    T = _T()
    so = node.op.scalar_op
    x = node.inputs[0] if node.inputs else None
    if isinstance(so, ts.Log) and _is(x, ts.Sigmoid, inside):
        return T.neg(T.softplus(_neg(inside(x).inputs[0], inside)))
    if isinstance(so, ts.Log1p) and _is(x, ts.Neg, inside):
        s = inside(x).inputs[0]
        if _is(s, ts.Sigmoid, inside):
            return T.neg(T.softplus(inside(s).inputs[0]))
    return None


@form
def softplus_from_log(node, inside):
    """``log(1 + exp(z))``, ``log(exp(z) + 1)`` and ``log1p(exp(z))`` -> ``softplus(z)``."""
    T = _T()
    so = node.op.scalar_op
    x = node.inputs[0] if node.inputs else None
    if isinstance(so, ts.Log1p) and _is(x, ts.Exp, inside):
        return T.softplus(inside(x).inputs[0])
    if isinstance(so, ts.Log):
        t = _one_plus_exp(x, inside)
        if t is not None:
            return T.softplus(t)
    return None


@form
def log_sum_exp(node, inside):
    """``log(sum(exp(x), axis))`` -> ``m + log(sum(exp(x - m), axis))``, ``m = max(x, axis)``.

    The max is subtracted where it is finite only, so an all ``-inf`` row stays ``-inf``
    (as the plain form gives) instead of becoming NaN.
    """
    if not isinstance(node.op.scalar_op, ts.Log):
        return None
    s = node.inputs[0]
    red = inside(s)
    keep = None
    if red is not None and isinstance(red.op, DimShuffle):  # keepdims
        keep = red.op
        s = red.inputs[0]
        red = inside(s)
    if red is None or not isinstance(red.op, Reduce) or red.op.scalar_op != ts.add \
            or red.op.dtype not in (None, s.type.dtype):
        return None
    e = red.inputs[0]
    if not _is(e, ts.Exp, inside) or e.type.dtype not in ("float32", "float64"):
        return None
    T = _T()
    x = inside(e).inputs[0]
    if _is_max_shifted(x, inside):
        return None  # already the stable form
    axis = red.op.axis
    m = T.max(x, axis=axis, keepdims=True)
    m = T.switch(T.isinf(m), T.zeros_like(m), m)
    m_red = T.max(m, axis=axis) if axis else m
    out = T.add(T.log(T.sum(T.exp(T.sub(x, m)), axis=axis)), m_red)
    if keep is not None:
        out = keep(out)
    return out


def _is_max_shifted(x, inside):
    """True for ``x - switch(isinf(m), 0, m)`` with ``m`` a max (this form's own output)."""
    if not _is(x, ts.Sub, inside):
        return False
    sw = inside(x).inputs[1]
    if not _is(sw, ts.Switch, inside):
        return False
    m = inside(sw).inputs[2]
    node = inside(m)
    if node is not None and isinstance(node.op, DimShuffle):
        node = inside(node.inputs[0])
    return node is not None and isinstance(node.op, Reduce) and node.op.scalar_op == ts.maximum


@form
def log_softmax(node, inside):
    """``log(softmax(x))`` -> ``log_softmax(x)``."""
    if not isinstance(node.op.scalar_op, ts.Log):
        return None
    sm = inside(node.inputs[0])
    if sm is not None and isinstance(sm.op, Softmax):
        return LogSoftmax()(sm.inputs[0])
    return None


def _is_square(v, inside):
    """True for ``sqr(x)``, ``x ** 2`` and ``x * x``."""
    so = _scalar_op(v, inside)
    if isinstance(so, ts.Sqr):
        return True
    if isinstance(so, ts.Pow):
        return constant_value(inside(v).inputs[1], inside) == 2
    if isinstance(so, ts.Mul):
        ins = inside(v).inputs
        return len(ins) == 2 and same(ins[0], ins[1])
    return False


@grad_form
def norm_at_zero(node, inside):
    """``sqrt(sum(x ** 2))`` -> ``switch(t == 0, 0, sqrt(switch(t == 0, 1, t)))``.

    Same value; the gradient at ``x = 0`` becomes 0 instead of ``0 * (0.5 / 0)`` = NaN
    (the norm has no derivative there; 0 is its minimum-norm subgradient, what PyTorch's
    norm returns). Also ``sqrt(x ** 2)``, whose gradient at 0 becomes 0 as for ``abs``.
    """
    if not isinstance(node.op.scalar_op, ts.Sqrt):
        return None
    t = node.inputs[0]
    red = inside(t)
    sq = t
    if red is not None and isinstance(red.op, Reduce) and red.op.scalar_op == ts.add:
        sq = red.inputs[0]
    if not _is_square(sq, inside) or t.type.dtype not in ("float32", "float64"):
        return None
    T = _T()
    zero = T.eq(t, 0)
    return T.switch(zero, T.zeros_like(t), T.sqrt(T.switch(zero, T.ones_like(t), t)))


# ------------------------------------------------------------------------ applying

def fit(old, new):
    """``new`` relabelled to ``old``'s type, or None when that is more than a cast."""
    if new is None or new.type.ndim != old.type.ndim:
        return None
    if new.type.dtype != old.type.dtype:
        new = _T().cast(new, old.type.dtype)
    if new.type.broadcastable != old.type.broadcastable:
        return None
    return new


def stable_replacement(node, inside, forms=None):
    """The first form's replacement of ``node``'s (single) output, or None."""
    if not isinstance(node.op, Elemwise) or len(node.outputs) != 1:
        return None
    for fn in FORMS if forms is None else forms:
        new = fit(node.outputs[0], fn(node, inside))
        if new is not None:
            return new
    return None


def _rebuildable(node):
    """Nodes a rewritten input may be propagated through: anything deterministic.

    A random draw is never cloned: two copies would be two independent draws.
    """
    return not isinstance(node.op, RandomDraw)


def stabilize_graph(outputs, leaves=(), for_grad=True):
    """``outputs`` rebuilt with every stable form applied, bottom-up.

    ``leaves`` are never looked through nor replaced (``grad``'s ``wrt``,
    ``consider_constant`` and ``known_grads`` keys), so gradients still reach them and
    stop where the caller asked. Nodes nothing changed are shared with the original graph.
    ``for_grad`` adds the gradient-only forms.
    """
    leaves = set(leaves)
    forms = FORMS + GRAD_FORMS if for_grad else FORMS
    memo: dict = {}

    def inside(v):
        return None if v in leaves else v.owner

    for node in toposort(list(outputs), blockers=list(leaves)):
        new_inputs = [memo.get(v, v) for v in node.inputs]
        changed = any(a is not b for a, b in zip(new_inputs, node.inputs))
        if changed and not _rebuildable(node):
            continue
        cur = node.clone_with_new_inputs(new_inputs) if changed else node
        for _ in range(4):  # a replacement may match another form (1 - p -> log(...))
            rep = stable_replacement(cur, inside, forms)
            if rep is None or rep.owner is None:
                break
            cur = rep.owner
        if cur is not node and len(cur.outputs) == len(node.outputs):
            for o, n in zip(node.outputs, cur.outputs):
                if o.type == n.type:
                    memo[o] = n
    return [memo.get(o, o) for o in outputs]
