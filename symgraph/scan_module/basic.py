"""``scan``: Theano 1.0's loop construct, normalized into one ``Scan`` node.

``scan(fn, sequences, outputs_info, non_sequences, n_steps, ...)`` calls ``fn`` once on
placeholder variables to get the step's graph, then

- slices each sequence once per tap (``dict(input=x, taps=[-1, 0, 1])``), after reversing
  it for ``go_backwards``;
- turns each ``outputs_info`` entry into a state with an initial buffer (a plain initial
  value is taps ``[-1]``; ``dict(initial=x, taps=[-2, -1])`` reads two past values) or, for
  ``None``, into a non-recurrent output;
- finds the shared variables and other free variables ``fn`` used and passes them as
  non-sequences; shared variables updated by ``fn`` (its returned updates, or the default
  update of a random stream drawn inside ``fn``) become states whose final value is
  returned in ``updates``, so each step and each call draws fresh numbers.

Returns ``(outputs, updates)`` as Theano does.

Example::

    >>> import symgraph as theano, symgraph.tensor as T
    >>> A, k = T.dvector('A'), T.iscalar('k')
    >>> result, updates = theano.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A),
    ...                               non_sequences=A, n_steps=k)
    >>> power = theano.function([A, k], result[-1], updates=updates)
    >>> power([1., 2., 3.], 3).tolist()
    [1.0, 8.0, 27.0]
"""
from __future__ import annotations

from collections import OrderedDict

from symgraph.graph.basic import Constant, Variable, clone_replace, graph_inputs
from symgraph.graph.utils import MissingInputError, user_trace
from symgraph.scan_module.op import Scan, ScanError, short_trace
from symgraph.tensor.type import TensorType

__all__ = ["scan", "until", "ScanError"]


class ScanMissingInputError(MissingInputError, ScanError):
    """``strict=True`` and ``fn`` uses a variable not passed in ``non_sequences``."""


class until:
    """``return outputs, until(condition)`` in a step function stops the loop after the
    first step where ``condition`` (a boolean scalar) is true."""

    def __init__(self, condition):
        from symgraph.tensor.basic import as_tensor_variable

        c = as_tensor_variable(condition)
        if c.type.ndim != 0:
            raise TypeError(f"until: the condition must be a scalar, got {c.type}")
        self.condition = c


def _T():
    import symgraph.tensor as T

    return T


class _Ctx:
    """Error reporting for one scan call: names the scan and the user's line."""

    def __init__(self, name, trace):
        self.name = name or "scan"
        self.trace = trace

    def error(self, msg, cls=ScanError):
        return cls(f"scan {self.name!r} (called at {short_trace(self.trace)}): {msg}")


def _placeholder(t: TensorType, name):
    return t.make_variable(name)


def _row_type(x):
    return TensorType(x.type.dtype, x.type.broadcastable[1:])


def _is_shared(v):
    return getattr(v, "is_shared", False)


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _is_update_pairs(x):
    if isinstance(x, dict):
        return True
    if isinstance(x, (list, tuple)) and x and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and _is_shared(p[0]) for p in x):
        return True
    return False


def _parse_return(ret, ctx):
    """Split what ``fn`` returned into (outputs, updates, condition)."""
    cond = None
    updates = OrderedDict()
    if ret is None:
        return [], updates, None
    if isinstance(ret, until):
        return [], updates, ret.condition
    if isinstance(ret, dict):
        return [], OrderedDict(ret), None
    if not isinstance(ret, (list, tuple)):
        return [ret], updates, None
    items = list(ret)
    rest = []
    for it in items:
        if isinstance(it, until):
            if cond is not None:
                raise ctx.error("fn returned two until conditions")
            cond = it.condition
        elif _is_update_pairs(it):
            updates.update(OrderedDict(it.items() if isinstance(it, dict) else it))
        else:
            rest.append(it)
    if len(rest) == 1 and isinstance(rest[0], (list, tuple)):
        rest = list(rest[0])
    return rest, updates, cond


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient=-1, go_backwards=False, mode=None, name=None, profile=False,
         allow_gc=None, strict=False, return_list=False):
    """Repeat ``fn`` over ``sequences`` and recurrent ``outputs_info``; returns
    ``(outputs, updates)``. See the module docstring and Theano's scan documentation.

    ``mode`` is accepted for compatibility: the loop body is compiled with the mode of the
    function that uses the scan. Without ``n_steps``, sequences of different lengths run
    as many steps as the shortest has rows (Theano's rule); an explicit ``n_steps`` longer
    than a sequence is an error naming the scan.
    """
    T = _T()
    ctx = _Ctx(name, user_trace(1))
    # -- sequences --------------------------------------------------------------
    seq_outer, seq_inner, fn_args = [], [], []
    for k, s in enumerate(_as_list(sequences)):
        if isinstance(s, dict):
            if "input" not in s:
                raise ctx.error(f"sequence {k} is a dict without an 'input' entry")
            x = s["input"]
            taps = s.get("taps", [0])
        else:
            x, taps = s, [0]
        taps = [0] if taps is None else [int(t) for t in _as_list(taps)]
        try:
            x = T.as_tensor_variable(x)
        except TypeError as e:
            raise ctx.error(f"sequence {k}: {e}", TypeError) from None
        if x.type.ndim < 1:
            raise ctx.error(f"sequence {k} is a scalar ({x.type}); sequences are iterated "
                            f"over their first dimension", TypeError)
        if go_backwards:
            x = x[::-1]
        lo, hi = min(taps), max(taps)
        for tap in taps:
            start = tap - lo
            stop = hi - tap
            sl = x[start:(x.shape[0] - stop) if stop else None]
            seq_outer.append(sl)
            ph = _placeholder(_row_type(x), f"{x.name or f'seq{k}'}[t{tap:+d}]")
            seq_inner.append(ph)
            fn_args.append(ph)
    # -- outputs_info: states and non-recurrent outputs ---------------------------
    infos = outputs_info if isinstance(outputs_info, (list, tuple)) else (
        None if outputs_info is None else [outputs_info])
    states = []  # dicts: init (outer buffer), taps, inner placeholders, user index
    kinds = []   # per user output: ("state", i) or ("nitsot", None)
    if infos is not None:
        for k, info in enumerate(infos):
            if isinstance(info, dict):
                if info.get("initial") is None:
                    if info.get("taps"):
                        raise ctx.error(f"outputs_info[{k}] has taps but no initial value")
                    kinds.append(("nitsot", None))
                    continue
                x0 = info["initial"]
                taps = info.get("taps", [-1])
                taps = [-1] if taps is None else [int(t) for t in _as_list(taps)]
            elif info is None:
                kinds.append(("nitsot", None))
                continue
            else:
                x0, taps = info, [-1]
            try:
                x0 = T.as_tensor_variable(x0)
            except TypeError as e:
                raise ctx.error(f"outputs_info[{k}]: {e}", TypeError) from None
            if any(t >= 0 for t in taps):
                raise ctx.error(f"outputs_info[{k}] has taps {taps}; output taps must be "
                                f"negative (past values)")
            taps = sorted(set(taps))
            L = -taps[0]
            if taps == [-1]:
                row_t = x0.type
                init = T.shape_padleft(x0)
            else:
                if x0.type.ndim < 1:
                    raise ctx.error(f"outputs_info[{k}] has taps {taps}: its initial value "
                                    f"needs a leading axis of at least {L} past values, got "
                                    f"{x0.type}", TypeError)
                row_t = _row_type(x0)
                init = x0[:L]
            phs = [_placeholder(row_t, f"out{k}[t{t:+d}]") for t in taps]
            fn_args.extend(phs)
            kinds.append(("state", len(states)))
            states.append(dict(init=init, taps=taps, inner=phs, row_type=row_t, index=k))
    # -- non-sequences --------------------------------------------------------------
    user_ns = []
    for k, v in enumerate(_as_list(non_sequences)):
        if isinstance(v, Variable):
            user_ns.append(v)
        else:
            try:
                user_ns.append(T.as_tensor_variable(v))
            except TypeError as e:
                raise ctx.error(f"non_sequences[{k}]: {e}", TypeError) from None
    fn_args.extend(user_ns)
    # -- the step -------------------------------------------------------------------
    ret = fn(*fn_args)
    outs, fn_updates, cond = _parse_return(ret, ctx)
    try:
        outs = [T.as_tensor_variable(o) for o in outs]
    except TypeError as e:
        raise ctx.error(f"fn returned something that is not a tensor: {e}", TypeError) from None
    if infos is None:
        kinds = [("nitsot", None)] * len(outs)
    elif len(outs) != len(kinds):
        raise ctx.error(f"fn returned {len(outs)} output{'s' if len(outs) != 1 else ''} but "
                        f"outputs_info has {len(kinds)} entr{'ies' if len(kinds) != 1 else 'y'}; "
                        f"give one outputs_info entry per output (None for outputs that are "
                        f"not fed back)")
    for k, (o, (kind, i)) in enumerate(zip(outs, kinds)):
        if kind != "state":
            continue
        st = states[i]
        rt = st["row_type"]
        if o.type.ndim != rt.ndim:
            raise ctx.error(f"output {k} of fn has {o.type.ndim} dimensions ({o.type}) but its "
                            f"initial value in outputs_info gives steps of {rt.ndim} "
                            f"dimensions ({rt})", TypeError)
        if o.type.dtype != rt.dtype:
            raise ctx.error(f"output {k} of fn has dtype {o.type.dtype} but its initial value "
                            f"in outputs_info has dtype {rt.dtype}; they must match (cast "
                            f"one of them, e.g. T.cast(x, '{rt.dtype}'))", TypeError)
        if o.type.broadcastable != rt.broadcastable:
            outs[k] = T.patternbroadcast(o, rt.broadcastable)
    if cond is not None:
        cond = T.as_tensor_variable(cond)
    # -- shared variables updated inside fn (returned updates, random streams) --------
    shared_states = OrderedDict()  # shared -> update expression
    for sv, expr in fn_updates.items():
        if not _is_shared(sv):
            raise ctx.error(f"fn returned an update for {sv!r}, which is not a shared variable",
                            TypeError)
        expr = T.as_tensor_variable(expr)
        if expr.type.dtype != sv.type.dtype or expr.type.ndim != sv.type.ndim:
            raise ctx.error(f"fn's update of shared variable {sv} has type {expr.type}; it "
                            f"must keep {sv.type}", TypeError)
        shared_states[sv] = expr
    placeholders = set(seq_inner) | {p for st in states for p in st["inner"]}
    blockers = placeholders | set(user_ns)
    roots_of = lambda vs: [v for v in graph_inputs(vs, blockers=blockers)  # noqa: E731
                           if v not in blockers]
    pending = list(outs) + list(shared_states.values()) + ([cond] if cond is not None else [])
    while True:
        added = False
        for v in roots_of(pending):
            if (_is_shared(v) and v not in shared_states
                    and getattr(v, "default_update", None) is not None):
                shared_states[v] = T.as_tensor_variable(v.default_update)
                pending.append(shared_states[v])
                added = True
        if not added:
            break
    sh_inner = OrderedDict((sv, _placeholder(sv.type, f"{sv.name or 'shared'}[t-1]"))
                           for sv in shared_states)
    # -- free variables become non-sequences --------------------------------------------
    free = []
    for v in roots_of(pending):
        if v in sh_inner:
            continue
        if isinstance(v, Constant):
            continue  # stays in the step, where the optimizer can fold and match it
        if strict and not isinstance(v, Constant):
            raise ctx.error(f"strict=True but fn uses {v!r} ({v.type}), which is not in "
                            f"non_sequences; pass it there", ScanMissingInputError)
        free.append(v)
    ns_outer = list(dict.fromkeys(user_ns + free))
    ns_inner = [_placeholder(v.type, v.name) for v in ns_outer]
    rep = dict(zip(ns_outer, ns_inner))
    rep.update(sh_inner)
    nit_idx = [k for k, (kind, _) in enumerate(kinds) if kind == "nitsot"]
    state_outs = [outs[st["index"]] for st in states] if infos is not None else []
    inner_outs = state_outs + list(shared_states.values()) + [outs[k] for k in nit_idx]
    if cond is not None:
        inner_outs.append(T.neq(cond, 0) if cond.type.dtype != "bool" else cond)
    inner_outs = clone_replace(inner_outs, rep) if rep else list(inner_outs)
    # an inner output that is an inner input (fn returned its argument) stays a variable
    all_states_taps = [st["taps"] for st in states] + [[-1]] * len(shared_states)
    inner_ins = (seq_inner + [p for st in states for p in st["inner"]] + list(sh_inner.values())
                 + ns_inner)
    inits = [st["init"] for st in states] + [T.shape_padleft(sv) for sv in shared_states]
    # -- number of steps ----------------------------------------------------------------
    if n_steps is None:
        if not seq_outer:
            raise ctx.error("scan needs sequences or n_steps to know how many steps to run")
        # Theano's rule: as many steps as the shortest sequence has rows (after its taps);
        # the tutorial's polynomial scans its coefficients beside arange(10000)
        n = seq_outer[0].shape[0]
        for s in seq_outer[1:]:
            n = T.minimum(n, s.shape[0])
    else:
        try:
            n = T.as_tensor_variable(n_steps)
        except TypeError as e:
            raise ctx.error(f"n_steps: {e}", TypeError) from None
        if n.type.ndim != 0 or not n.type.dtype.startswith(("int", "uint")):
            raise ctx.error(f"n_steps must be an integer scalar, got {n.type}", TypeError)
        if isinstance(n, Constant) and int(n.data) < 0:
            raise ctx.error(f"n_steps must be >= 0, got {int(n.data)}")
    n = T.cast(n, "int64") if n.type.dtype != "int64" else n
    op = Scan(inner_ins, inner_outs, n_seqs=len(seq_outer), state_taps=all_states_taps,
              n_nitsot=len(nit_idx), n_nonseqs=len(ns_outer), until=cond is not None,
              name=name, truncate_gradient=truncate_gradient, trace=ctx.trace)
    node_outs = op(n, *seq_outer, *inits, *ns_outer)
    node_outs = node_outs if isinstance(node_outs, list) else [node_outs]
    n_user_states = len(states)
    results = []
    for kind, i in kinds:
        if kind == "state":
            L = -states[i]["taps"][0]
            results.append(node_outs[i][L:])
        else:
            results.append(node_outs[len(all_states_taps) + nit_idx.index(len(results))])
    updates = OrderedDict()
    for j, sv in enumerate(shared_states):
        updates[sv] = node_outs[n_user_states + j][-1]
    if name:
        for r in results:
            if r.name is None:
                r.name = name
    if return_list or len(results) != 1:
        return results, updates
    return results[0], updates
