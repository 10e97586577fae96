"""Reverse-mode symbolic differentiation: ``grad``, ``jacobian``, ``hessian``, ``verify_grad``.

Gradients are graphs built from ordinary ops (each Op's ``L_op``), so the optimizer
rewrites them and they can be differentiated again.

Example::

    >>> import symgraph as theano, symgraph.tensor as T
    >>> x = T.dscalar('x')
    >>> f = theano.function([x], T.grad(x ** 2, x))
    >>> float(f(4))
    8.0
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from symgraph.graph.basic import Constant, Variable, ancestors, toposort
from symgraph.tensor.type import DISCRETE_DTYPES, FLOAT_DTYPES


class NullTypeGradError(TypeError):
    """The gradient is undefined (e.g. with respect to an integer variable)."""


class DisconnectedInputError(ValueError):
    """The cost does not depend on one of the ``wrt`` variables."""


class GradientError(AssertionError):
    """``verify_grad`` found a symbolic gradient that disagrees with finite differences."""

    def __init__(self, msg, max_abs_err=None, max_rel_err=None, where=None):
        super().__init__(msg)
        self.max_abs_err = max_abs_err
        self.max_rel_err = max_rel_err
        self.where = where


def _T():
    import symgraph.tensor as T

    return T


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", known_grads=None,
         return_disconnected="zero", null_gradients="raise"):
    """Symbolic gradient of scalar ``cost`` with respect to ``wrt`` (a variable or a list).

    - ``consider_constant``: variables treated as constants (no gradient flows through);
    - ``disconnected_inputs``: what to do when ``cost`` does not depend on an element of
      ``wrt``: 'raise', 'warn' or 'ignore' (then its gradient is zeros);
    - ``known_grads``: ``{variable: gradient}`` to start backpropagation from (``cost``
      may then be None);
    - ``return_disconnected``: the gradient given for a disconnected ``wrt`` (when
      ``disconnected_inputs`` lets it through): 'zero' (zeros like it, the default) or
      'None' (Python None, as Theano). Theano's 'Disconnected' (a DisconnectedType
      variable) has no equivalent here and is refused;
    - ``null_gradients``: 'raise' (default): a gradient that is undefined (through
      ``undefined_grad``, or wrt an op that defines none) raises ``NullTypeGradError``.
      Theano's 'return' (a NullType variable in place of the gradient) is refused.
    """
    T = _T()
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"grad: disconnected_inputs must be 'raise', 'warn' or 'ignore', got "
                         f"{disconnected_inputs!r}")
    if return_disconnected not in ("zero", "None"):
        hint = (" (Theano's DisconnectedType variables do not exist in symgraph: use 'None' "
                "to tell disconnected inputs apart)" if return_disconnected == "Disconnected"
                else "")
        raise ValueError(f"grad: return_disconnected must be 'zero' or 'None', got "
                         f"{return_disconnected!r}{hint}")
    if null_gradients != "raise":
        hint = (" (Theano's NullType gradient variables do not exist in symgraph; an "
                "undefined gradient raises NullTypeGradError)" if null_gradients == "return"
                else "")
        raise ValueError(f"grad: null_gradients must be 'raise', got {null_gradients!r}{hint}")
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt must contain symbolic variables, got {type(w).__name__}")
        if w.type.dtype in DISCRETE_DTYPES:
            # Theano's answer: zeros (floatX) where connected, else disconnected_inputs
            from symgraph.grad_discrete import grad_with_discrete_wrt

            return grad_with_discrete_wrt(cost, wrt, consider_constant, disconnected_inputs,
                                          known_grads, return_disconnected=return_disconnected,
                                          null_gradients=null_gradients)
    seeds: dict = {}
    if cost is not None:
        cost = T.as_tensor_variable(cost)
        if cost.type.ndim != 0:
            raise TypeError(f"grad: cost must be a scalar (0-d), got {cost.type} with ndim "
                            f"{cost.type.ndim}; sum or mean it first")
        if cost.type.dtype not in FLOAT_DTYPES:
            raise TypeError(f"grad: cost must be a float scalar, got dtype {cost.type.dtype}")
        leaves = set(wrt_list) | set(consider_constant or ()) | set(known_grads or ())
        cost = _stabilized(cost, leaves)
        seeds[cost] = T.ones_like(cost)
    for v, g in (known_grads or {}).items():
        g = T.as_tensor_variable(g)
        seeds[v] = T.cast(g, v.type.dtype) if g.type.dtype != v.type.dtype else g
    if not seeds:
        raise ValueError("grad: cost is None and known_grads is empty")
    blockers = set(consider_constant or ())
    grads = _backprop(list(seeds), seeds, wrt_list, blockers)
    out = []
    for w in wrt_list:
        g = grads.get(w)
        if g is None:
            report_disconnected(w, disconnected_inputs, stacklevel=3)
            if return_disconnected == "None":
                out.append(None)
                continue
            g = T.zeros_like(w)
        if g.type.dtype != w.type.dtype:
            g = T.cast(g, w.type.dtype)
        if g.type.broadcastable != w.type.broadcastable:
            from symgraph.tensor.elemwise import unbroadcast_grad

            g = unbroadcast_grad(g, w)
        out.append(g)
    return out[0] if single else out


def report_disconnected(w, disconnected_inputs, stacklevel):
    """What ``disconnected_inputs`` asks for when the cost does not depend on ``w``:
    raise ``DisconnectedInputError``, warn, or nothing ('ignore')."""
    msg = (f"grad: the cost does not depend on {w!r} (it is disconnected). Pass "
           f"disconnected_inputs='ignore' to get zeros instead.")
    if disconnected_inputs == "raise":
        raise DisconnectedInputError(msg)
    if disconnected_inputs == "warn":
        warnings.warn(msg, stacklevel=stacklevel)


def _stabilized(cost, leaves):
    """``cost`` with its graph rewritten into its stable forms (see
    ``symgraph.tensor.stable_forms``) before differentiation.

    Why before: ``d log(p) = dp / p`` is NaN where ``p`` rounds to 0 even when the exact
    gradient is finite, and no later rewrite of the gradient graph can recover it
    reliably. ``log(1 / (1 + exp(-z)))`` becomes ``-softplus(-z)`` first, whose gradient
    ``sigmoid(-z)`` is finite everywhere. Values are unchanged; ``leaves`` (``wrt``,
    ``consider_constant``, ``known_grads`` keys) are kept as they are.
    """
    from symgraph.tensor.stable_forms import stabilize_graph

    return stabilize_graph([cost], leaves)[0]


def _backprop(roots, seeds, wrt, blockers):
    """Accumulate gradients from ``seeds`` back to every variable on a path to ``wrt``."""
    T = _T()
    wrt_set = set(wrt)
    # nodes between the roots and wrt: those whose outputs lead to a root and that depend
    # on some wrt
    nodes = toposort(roots, blockers=list(blockers | wrt_set))
    depends: set = set(wrt_set)
    for node in nodes:
        if any(i in depends and i not in blockers for i in node.inputs):
            depends.update(node.outputs)
    acc: dict = {}
    for v, g in seeds.items():
        acc.setdefault(v, []).append(g)
    for node in reversed(nodes):
        outs_g = [acc.get(o) for o in node.outputs]
        if all(g is None for g in outs_g):
            continue
        if not any(i in depends and i not in blockers for i in node.inputs):
            continue
        ogs = []
        for o, gl in zip(node.outputs, outs_g):
            if gl is None:
                ogs.append(T.zeros_like(o) if o.type.dtype in FLOAT_DTYPES
                           else T.zeros_like(o, dtype="float64"))
            else:
                ogs.append(gl[0] if len(gl) == 1 else T.add(*gl))
        in_grads = node.op.L_op(node.inputs, node.outputs, ogs)
        if len(in_grads) != len(node.inputs):
            raise ValueError(f"{node.op}.L_op returned {len(in_grads)} gradients for "
                             f"{len(node.inputs)} inputs")
        for x, g in zip(node.inputs, in_grads):
            if g is None or x in blockers or x not in depends or isinstance(x, Constant):
                continue
            if x.type.dtype in DISCRETE_DTYPES:
                continue
            g = T.as_tensor_variable(g)
            if g.type.ndim != x.type.ndim:
                raise ValueError(f"{node.op}.L_op: gradient for input of type {x.type} has "
                                 f"type {g.type}")
            acc.setdefault(x, []).append(g)
    out = {}
    for w in wrt:
        gl = acc.get(w)
        if gl:
            out[w] = gl[0] if len(gl) == 1 else T.add(*gl)
    return out


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """d expression / d wrt for a vector (or scalar) ``expression``.

    Computed by differentiating each element (the number of elements must be known when
    the expression is a vector: it is unrolled over ``expression.shape[0]`` by a
    symbolic loop-free construction: ``grad(sum(expression * onehot_i))`` stacked).
    """
    T = _T()
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    expression = T.as_tensor_variable(expression)
    if expression.type.ndim == 0:
        res = grad(expression, wrt_list, consider_constant, disconnected_inputs)
        return res[0] if single else res
    if expression.type.ndim != 1:
        raise TypeError(f"jacobian: expression must be a scalar or a vector, got {expression.type}")
    res = [_vector_jacobian(expression, w, consider_constant, disconnected_inputs)
           for w in wrt_list]
    return res[0] if single else res


def _vector_jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """d expression[i] / d wrt for every i, stacked along a new first axis."""
    from symgraph.graph.basic import graph_inputs
    from symgraph.tensor.jacobian_op import Map

    T = _T()
    i = T.lscalar("jacobian_index")
    row = grad(expression[i], wrt, consider_constant=consider_constant,
               disconnected_inputs=disconnected_inputs)
    from symgraph.graph.basic import clone_replace

    free = [v for v in graph_inputs([row]) if v is not i and not isinstance(v, Constant)]
    # shared variables become ordinary inputs of the inner graph (their current values
    # are passed in at each call)
    reps = {v: v.type.make_variable(v.name) for v in free if getattr(v, "is_shared", False)}
    if reps:
        (row,) = clone_replace([row], reps)
    op = Map([i] + [reps.get(v, v) for v in free], row)
    return op(expression.shape[0], *free)


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Matrix of second derivatives of scalar ``cost`` with respect to vector ``wrt``."""
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    res = []
    for w in wrt_list:
        if w.type.ndim != 1:
            raise TypeError(f"hessian: wrt must be vectors, got {w.type}")
        g = grad(cost, w, consider_constant, disconnected_inputs)
        res.append(jacobian(g, w, consider_constant, disconnected_inputs))
    return res[0] if single else res


def Rop(f, wrt, eval_points):
    """Jacobian-vector product via the double-vjp trick (exact, graph-based)."""
    T = _T()
    single = not isinstance(wrt, (list, tuple))
    wrt_l = [wrt] if single else list(wrt)
    ev_l = [eval_points] if single else list(eval_points)
    u = f.type.make_variable("rop_u")
    g = grad(None, wrt_l, known_grads={f: u}, disconnected_inputs="ignore")
    s = T.add(*[T.sum(gi * e) for gi, e in zip(g, ev_l)])
    r = grad(s, u, disconnected_inputs="ignore")
    from symgraph.graph.basic import clone_replace

    return clone_replace([r], {u: T.zeros_like(f)})[0]


def Lop(f, wrt, eval_points):
    """Vector-Jacobian product: sum_i eval_points_i * d f_i / d wrt."""
    single = not isinstance(wrt, (list, tuple))
    res = grad(None, wrt if not single else [wrt], known_grads={f: eval_points},
               disconnected_inputs="ignore")
    return res[0] if single else res


# ----------------------------------------------------------------- verify_grad

def numeric_grad(f, point, eps):
    """Central finite differences of scalar-valued ``f`` at ``point`` (list of arrays)."""
    grads = []
    for i, p in enumerate(point):
        g = np.zeros_like(p, dtype="float64")
        flat = p.reshape(-1)
        gflat = g.reshape(-1)
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + eps
            fp = f(*point)
            flat[k] = old - eps
            fm = f(*point)
            flat[k] = old
            gflat[k] = (fp - fm) / (2 * eps)
        grads.append(g)
    return grads


def verify_grad(fun, pt: Sequence, n_tests: int = 2, rng=None, eps=None, out_type=None,
                abs_tol=None, rel_tol=None, mode=None, cast_to_output_type=False,
                no_debug_ref=True):
    """Check the symbolic gradient of ``fun`` at ``pt`` against central finite differences.

    ``fun`` takes symbolic tensors (one per array of ``pt``) and returns a tensor. Its output
    is projected on a random tensor to a scalar; the gradient of that projection is
    compared with finite differences. Raises ``GradientError`` with the largest error and
    where it is.

    Example::

        verify_grad(lambda x: T.exp(x).sum(), [np.random.rand(3)])
    """
    from symgraph.graph.basic import eval_compiler

    function = eval_compiler()  # the compile layer, installed by import symgraph
    import symgraph.tensor as T

    if rng is None:
        rng = np.random.default_rng(42)
    elif isinstance(rng, np.random.RandomState):
        rng = np.random.default_rng(rng.randint(2**31))
    pt = [np.array(p, copy=True) for p in pt]
    for i, p in enumerate(pt):
        if p.dtype.kind not in "f":
            raise TypeError(f"verify_grad: point {i} has dtype {p.dtype}; points must be floats")
    dtype = str(np.result_type(*[p.dtype for p in pt]))
    if eps is None:
        eps = 1e-7 if dtype == "float64" else 3e-3
    if abs_tol is None:
        abs_tol = 1e-4 if dtype == "float64" else 3e-2
    if rel_tol is None:
        rel_tol = 1e-4 if dtype == "float64" else 3e-2
    syms = [T.tensor(p.dtype, tuple(s == 1 for s in p.shape), name=f"input{i}")
            for i, p in enumerate(pt)]
    out = T.as_tensor_variable(fun(*syms))
    f_out = function(syms, out, on_unused_input="ignore", mode=mode)
    o_val = np.asarray(f_out(*pt))
    for _ in range(n_tests):
        proj = rng.random(o_val.shape) + 0.5
        proj_var = T.constant(proj.astype(out.type.dtype))
        cost = T.sum(out * proj_var)
        gs = grad(cost, syms, disconnected_inputs="ignore")
        f_cost = function(syms, cost, on_unused_input="ignore", mode=mode)
        f_grad = function(syms, gs, on_unused_input="ignore", mode=mode)
        sym_g = [np.asarray(g) for g in f_grad(*pt)]
        pt64 = [p.astype("float64") for p in pt]

        def fcost(*args):
            return float(f_cost(*[a.astype(p.dtype) for a, p in zip(args, pt)]))

        num_g = numeric_grad(fcost, pt64, eps)
        for i, (s, n) in enumerate(zip(sym_g, num_g)):
            if s.shape != n.shape:
                raise GradientError(f"verify_grad: gradient {i} has shape {s.shape}, "
                                    f"expected {n.shape}")
            abs_err = np.abs(s - n)
            rel_err = abs_err / (np.abs(s) + np.abs(n) + 1e-8)
            bad = (abs_err > abs_tol) & (rel_err > rel_tol)
            if np.any(bad) or not np.all(np.isfinite(s)):
                k = int(np.argmax(np.where(bad | ~np.isfinite(s), abs_err, -1)))
                where = np.unravel_index(k, s.shape) if s.ndim else ()
                raise GradientError(
                    f"verify_grad: gradient of input {i} disagrees with finite differences at "
                    f"index {where}: symbolic {s.reshape(-1)[k]!r}, numeric {n.reshape(-1)[k]!r} "
                    f"(max abs error {abs_err.max():.3g}, max rel error {rel_err.max():.3g}; "
                    f"tolerances abs {abs_tol}, rel {rel_tol})",
                    float(abs_err.max()), float(rel_err.max()), (i, where))
    return True


# ancestors kept importable for users of theano.gradient
__all__ = ["grad", "jacobian", "hessian", "verify_grad", "numeric_grad", "Rop", "Lop",
           "GradientError", "NullTypeGradError", "DisconnectedInputError", "ancestors"]


# gradient-only identity ops and subgraph_grad (Theano's theano.gradient names)
from symgraph.gradient_ops import (  # noqa: E402,F401
    disconnected_grad,
    grad_clip,
    grad_scale,
    subgraph_grad,
    undefined_grad,
    zero_grad,
)

__all__ += ["disconnected_grad", "grad_clip", "grad_scale", "subgraph_grad", "undefined_grad",
            "zero_grad"]
