"""float16 graphs: stored as float16, computed in float32 (Theano's CPU backend rule).

Why a compile step: no backend has float16 arithmetic (Numba has no float16 type on the
CPU at all), and Theano's CPU backend computed each op of a float16 graph in float32 from
float16 inputs and stored its result as float16. Here a function whose graph holds float16
values is compiled as a float32 graph:

- each float16 input, shared variable and constant becomes float32 (exactly: every
  float16 value is a float32 value);
- each op whose result was float16 is rebuilt on the float32 inputs and followed by
  ``HalfRound`` (round to the nearest float16 value, ties to even), so every
  intermediate holds what a float16 array would (a cast to float16 becomes
  ``HalfRound``);
- the call converts float16 arguments and shared values to float32 on the way in, and
  float16 outputs and shared-variable updates back to float16 on the way out.

The backend (py, Numba, CUDA) and the checking modes then see an ordinary float32
function; results match a float16 array computed op by op in float32 on every backend.
Arguments are checked against the float16 types (a float32 or float64 array for a
float16 input is refused unless ``allow_input_downcast=True``, as usual).

Example::

    >>> x = T.tensor('float16', (False,))
    >>> f = theano.function([x], T.exp(x) * 2)
    >>> f(np.ones(3, np.float16)).dtype
    dtype('float16')
"""
from __future__ import annotations

import copy

import numpy as np

from symgraph.compile.io import In, Out
from symgraph.compile.shared import SharedVariable
from symgraph.graph.basic import Constant, Variable, ancestors, clone_replace, toposort

HALF = "float16"


def _is_half(v) -> bool:
    return getattr(getattr(v, "type", None), "dtype", None) == HALF


def _outputs(spec):
    from symgraph.compile.function import _as_list
    import symgraph.tensor as T

    return [T.as_tensor_variable(o.variable if isinstance(o, Out) else o)
            for o in _as_list(spec["outputs"])]


def uses_float16(spec) -> bool:
    """True when the function of ``spec`` reads, computes or returns a float16 value."""
    from symgraph.compile.function import _as_list, _pairs

    try:
        roots = _outputs(spec)
    except TypeError:
        return False  # the ordinary compile reports bad outputs
    for sv, e in _pairs(spec["updates"], "updates"):
        roots += [sv, e] if isinstance(e, Variable) else [sv]
    for v, r in _pairs(spec["givens"], "givens"):
        roots += [x for x in (v, r) if isinstance(x, Variable)]
    roots += [x.variable if isinstance(x, In) else x for x in _as_list(spec["inputs"])]
    return any(_is_half(v) for v in ancestors([r for r in roots if isinstance(r, Variable)]))


def _float32_node(node, new_inputs):
    """``node`` rebuilt on float32 inputs, its float16 results computed in float32."""
    from symgraph.tensor.elemwise import Elemwise
    from symgraph.tensor import scalar_ops as ts
    import symgraph.tensor as T

    op = node.op
    if isinstance(op, Elemwise) and isinstance(op.scalar_op, ts.Cast):
        # a cast to float16 is a cast to float32 rounded to float16 precision
        return [T.cast(new_inputs[0], "float32")]
    new = node.clone_with_new_inputs(new_inputs)
    if any(_is_half(o) for o in new.outputs) and getattr(op, "dtype", None) == HALF:
        op32 = copy.copy(op)
        op32.dtype = "float32"  # ops creating values of a given dtype (arange, eye...)
        tag = new.tag
        new = op32.make_node(*new_inputs)
        new.tag = tag
    for o_old, o_new in zip(node.outputs, new.outputs):
        if _is_half(o_old) and o_new.type.dtype != "float32":
            raise NotImplementedError(
                f"{op}: its float16 result would be {o_new.type.dtype} when computed from "
                f"float32 inputs; float16 graphs compute each op in float32 and this op "
                f"cannot. Use float32 here.")
    return new.outputs


def to_float32(exprs, memo, blockers, shadows):
    """``exprs`` rebuilt as a float32 graph (see the module docstring). ``memo`` maps
    replaced variables; float16 shared variables met on the way get a float32 input in
    ``memo`` and are appended to ``shadows``."""
    from symgraph.tensor.basic import constant
    from symgraph.tensor.half import half_round
    from symgraph.tensor.type import TensorType

    def root(v):
        if v in memo or not _is_half(v):
            return
        if isinstance(v, SharedVariable):
            memo[v] = TensorType("float32", v.type.broadcastable)(v.name)
            shadows.append(v)
        elif isinstance(v, Constant):
            memo[v] = constant(np.asarray(v.data, dtype=np.float32), name=v.name)

    for v in exprs:
        if v.owner is None or v in blockers:
            root(v)
    for node in toposort(exprs, blockers=blockers):
        for v in node.inputs:
            if v.owner is None or v in blockers:
                root(v)
        new_inputs = [memo.get(v, v) for v in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)) and not any(
                _is_half(o) for o in node.outputs):
            continue
        for o_old, o_new in zip(node.outputs, _float32_node(node, new_inputs)):
            memo[o_old] = half_round(o_new) if _is_half(o_old) else o_new
    return [memo.get(v, v) for v in exprs]


class Float16Function:
    """The float32 function of a float16 graph, with float16 values at its boundary."""

    def __init__(self, inner, spec, ins, half_in, out_half, shadows, shadow_upd, single):
        self._fn = inner
        self._spec = spec
        self._ins = ins
        self._half_in = half_in
        self._out_half = out_half
        self._shadows = shadows
        self._shadow_upd = shadow_upd
        self._single = single
        self._names = {i.name: k for k, i in enumerate(ins) if i.name is not None}

    def __getattr__(self, name):
        if name.startswith("__") or name == "_fn":
            raise AttributeError(name)
        return getattr(self._fn, name)

    def _bind(self, args, kwargs):
        n = len(self._ins)
        if len(args) > n:
            raise TypeError(f"function takes {n} arguments, got {len(args)}")
        vals = list(args) + [_MISSING] * (n - len(args))
        for key, v in kwargs.items():
            if key not in self._names:
                raise TypeError(f"function got an unexpected keyword argument {key!r}")
            if vals[self._names[key]] is not _MISSING:
                raise TypeError(f"function got multiple values for input {key!r}")
            vals[self._names[key]] = v
        for k, v in enumerate(vals):
            if v is _MISSING:
                if not self._ins[k].has_default:
                    raise TypeError(f"function: missing a value for input {k} "
                                    f"({self._ins[k].name!r})")
                vals[k] = self._ins[k].value
        return vals

    def __call__(self, *args, **kwargs):
        vals = self._bind(args, kwargs)
        allow_all = self._spec.get("allow_input_downcast")
        for k in self._half_in:
            inp = self._ins[k]
            allow = inp.allow_downcast if inp.allow_downcast is not None else allow_all
            vals[k] = inp.variable.type.filter(vals[k], allow_downcast=allow,
                                               name=inp.name or f"#{k}").astype(np.float32)
        vals += [sv.get_value(borrow=True).astype(np.float32) for sv in self._shadows]
        res = self._fn(*vals)
        n = len(self._out_half)
        outs = [np.asarray(r).astype(np.float16) if h else r
                for r, h in zip(res[:n], self._out_half)]
        for sv, u in zip(self._shadow_upd, res[n:]):
            sv.set_value(np.asarray(u).astype(np.float16), borrow=True)
        return outs[0] if self._single else outs

    def __reduce__(self):
        from symgraph.compile.function import compile_spec

        return (compile_spec, (self._spec,))

    def copy(self):
        from symgraph.compile.function import compile_spec

        return compile_spec(self._spec)

    def __repr__(self):
        return f"<symgraph float16 Function computed in float32: {self._fn!r}>"


_MISSING = object()


def compile_float16(spec):
    """Compile ``spec`` (whose graph holds float16 values) as described above."""
    from symgraph.compile.function import _as_list, _pairs, compile_spec
    import symgraph.tensor as T
    from symgraph.tensor.type import TensorType

    ins = [x if isinstance(x, In) else In(x) for x in _as_list(spec["inputs"])]
    raw = spec["outputs"]
    single = raw is not None and not isinstance(raw, (list, tuple))
    outs = _outputs(spec)
    updates = [(sv, T.as_tensor_variable(e)) for sv, e in _pairs(spec["updates"], "updates")]
    givens = [(v, T.as_tensor_variable(r)) for v, r in _pairs(spec["givens"], "givens")]
    nd = spec["no_default_updates"]
    if nd is not True:  # float16 shared variables' default updates are made explicit here
        skip = set(nd) if isinstance(nd, (list, tuple)) else set()
        done = {sv for sv, _ in updates}
        for v in ancestors(outs + [e for _, e in updates]):
            if (isinstance(v, SharedVariable) and _is_half(v) and v not in done
                    and v not in skip and v.default_update is not None):
                updates.append((v, T.as_tensor_variable(v.default_update)))
    exprs = outs + [e for _, e in updates]
    if givens:
        exprs = clone_replace(exprs, dict(givens))
    in_vars = [i.variable for i in ins]
    memo = {v: TensorType("float32", v.type.broadcastable)(v.name)
            for v in in_vars if _is_half(v)}
    shadows: list = []
    for sv, _ in updates:
        if _is_half(sv):
            memo[sv] = TensorType("float32", sv.type.broadcastable)(sv.name)
            shadows.append(sv)
    new = to_float32(exprs, memo, set(in_vars), shadows)
    new_outs, new_upd = new[:len(outs)], new[len(outs):]
    inner_ins = []
    for i in ins:
        kw = dict(name=i.name, mutable=i.mutable, borrow=i.borrow,
                  allow_downcast=i.allow_downcast)
        if i.has_default:
            kw["value"] = i.value
        inner_ins.append(In(memo.get(i.variable, i.variable), **kw))
    inner_ins += [In(memo[sv], name=None) for sv in shadows]
    half_upd = [(sv, e) for (sv, _), e in zip(updates, new_upd) if _is_half(sv)]
    other_upd = [(sv, e) for (sv, _), e in zip(updates, new_upd) if not _is_half(sv)]
    inner_spec = dict(spec, inputs=inner_ins, outputs=list(new_outs) + [e for _, e in half_upd],
                      updates=other_upd, givens=None)
    inner = compile_spec(inner_spec)
    return Float16Function(inner, spec, ins, [k for k, v in enumerate(in_vars) if _is_half(v)],
                           [_is_half(o) for o in outs], shadows, [sv for sv, _ in half_upd],
                           single)
