"""``function``: compile symbolic inputs -> outputs (+ updates) into a callable.

Pipeline (see docs/ARCHITECTURE.md): clone into a FunctionGraph with givens applied and updates as
extra outputs -> rewrite -> link (py/numba/cuda) -> wrap in a ``Function`` that checks
inputs, runs, and commits updates only when the whole call succeeded.

Example::

    >>> import symgraph as theano, symgraph.tensor as T
    >>> a, b = T.dscalars('a', 'b')
    >>> f = theano.function([a, b], T.sqrt(a ** 2 + b ** 2))
    >>> float(f(3, 4))
    5.0
"""
from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np

from symgraph.compile.callguard import NO_LOCK, commit, interrupt_from, update_lock
from symgraph.compile.io import In, Out
from symgraph.compile.mode import get_mode
from symgraph.compile.shared import SharedVariable
from symgraph.graph.basic import (
    Constant,
    Variable,
    ancestors,
    clone_replace,
    set_eval_compiler,
    toposort,
)
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.utils import MissingInputError, UnusedInputError


def function(inputs, outputs=None, updates=None, givens=None, no_default_updates=False,
             on_unused_input=None, allow_input_downcast=None, mode=None, name=None,
             profile=None, accept_inplace=False, rebuild_strict=True):
    """Compile a callable computing ``outputs`` from ``inputs``.

    - ``inputs``: list of variables or ``In`` objects (names and default values);
    - ``outputs``: a variable (the call returns one array), a list (returns a list) or a
      dict with string keys (returns a dict);
    - ``updates``: ``[(shared, new_expr), ...]`` or a dict, applied after each call;
    - ``givens``: ``[(var, replacement), ...]`` substituted before compiling;
    - ``on_unused_input``: 'raise', 'warn' or 'ignore' (default ``config.on_unused_input``);
    - ``mode``: 'numba' (default), 'py', 'cuda', 'DebugMode', 'NanGuardMode' or a ``Mode``;
    - ``accept_inplace``: a graph the user built with in-place ops (ops that overwrite an
      input) is refused unless True, as in Theano (the optimizer adds its own in-place ops
      only where they are safe);
    - ``rebuild_strict``: with True (the default) a ``givens`` replacement must have the
      replaced variable's dtype and ndim; False lets the dtype differ and re-derives the
      types of the graph above it (updates must still keep their shared variable's type).
    """
    from symgraph.config import config

    if on_unused_input is None:
        on_unused_input = config.on_unused_input
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(f"function: on_unused_input must be 'raise', 'warn' or 'ignore', "
                         f"got {on_unused_input!r}")
    spec = dict(inputs=inputs, outputs=outputs, updates=updates, givens=givens,
                no_default_updates=no_default_updates, on_unused_input=on_unused_input,
                allow_input_downcast=allow_input_downcast, mode=mode, name=name, profile=profile,
                accept_inplace=accept_inplace, rebuild_strict=rebuild_strict)
    return compile_spec(spec)


def compile_spec(spec):
    """Compile ``spec``: dict outputs, float16 graphs and the checking modes (DebugMode,
    NanGuardMode) wrap ordinary compiled functions (``symgraph.compile.dict_outputs``,
    ``float16``, ``checked``)."""
    if isinstance(spec["outputs"], dict):
        from symgraph.compile.dict_outputs import compile_dict_outputs

        return compile_dict_outputs(spec)
    from symgraph.compile.float16 import compile_float16, uses_float16

    if uses_float16(spec):  # stored as float16, computed in float32
        return compile_float16(spec)
    from symgraph.compile.checked import checking_compiler

    checked = checking_compiler(spec["mode"])
    if checked is not None:
        return checked(spec)
    return _compile(spec)


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _pairs(x, what):
    if x is None:
        return []
    if isinstance(x, dict):
        items = list(x.items())
    else:
        try:
            items = [tuple(p) for p in x]
        except TypeError:
            raise TypeError(f"{what} must be a dict or a list of (variable, expression) pairs") from None
    for p in items:
        if len(p) != 2:
            raise TypeError(f"{what}: each entry must be a pair (variable, expression), got {p!r}")
    return items


def _compile(spec):
    import symgraph.tensor as T

    t0 = time.perf_counter()
    mode = get_mode(spec["mode"])
    # -- inputs ------------------------------------------------------------------
    ins = []
    for i, x in enumerate(_as_list(spec["inputs"])):
        inp = x if isinstance(x, In) else In(x)
        if not isinstance(inp.variable, Variable):
            raise TypeError(f"function: input {i} must be a symbolic variable, got "
                            f"{type(inp.variable).__name__} {inp.variable!r}")
        if isinstance(inp.variable, SharedVariable):
            raise TypeError(f"function: input {i} ({inp.variable}) is a shared variable; shared "
                            f"variables are implicit inputs and cannot be listed. Use givens "
                            f"to replace it.")
        if isinstance(inp.variable, Constant):
            raise TypeError(f"function: input {i} ({inp.variable}) is a constant")
        ins.append(inp)
    in_vars = [i.variable for i in ins]
    if len(set(in_vars)) != len(in_vars):
        raise ValueError("function: the same variable is given twice as an input")
    # -- outputs -----------------------------------------------------------------
    raw_out = spec["outputs"]
    single = raw_out is not None and not isinstance(raw_out, (list, tuple))
    outs = []
    for o in _as_list(raw_out):
        if isinstance(o, Out):
            o = o.variable
        o = T.as_tensor_variable(o)
        outs.append(o)
    # -- updates and givens -------------------------------------------------------
    updates = OrderedDict()
    for sv, expr in _pairs(spec["updates"], "updates"):
        if not isinstance(sv, SharedVariable):
            raise TypeError(f"updates: {sv!r} is not a shared variable; only shared variables "
                            f"can be updated")
        if sv in updates:
            raise ValueError(f"updates: shared variable {sv} is updated twice")
        updates[sv] = _check_update(sv, expr)
    givens = []
    for var, rep in _pairs(spec["givens"], "givens"):
        if not isinstance(var, Variable):
            raise TypeError(f"givens: key {var!r} must be a symbolic variable")
        rep = T.as_tensor_variable(rep) if not isinstance(rep, Variable) else rep
        if rep.type != var.type:
            if (rep.type.ndim == var.type.ndim and rep.type.dtype == var.type.dtype):
                pass  # broadcast patterns differ; the value is checked when used
            elif rep.type.ndim == var.type.ndim and not spec.get("rebuild_strict", True):
                pass  # rebuild_strict=False: the graph above is rebuilt with the new dtype
            else:
                raise TypeError(f"givens: {var} of type {var.type} cannot be replaced by {rep} "
                                f"of type {rep.type}")
        givens.append((var, rep))
    # default updates (e.g. random streams) for shared variables reached by the graph
    nd = spec["no_default_updates"]
    if nd is not True:
        skip = set(nd) if isinstance(nd, (list, tuple)) else set()
        frontier = outs + list(updates.values())
        seen = set()
        while True:
            added = False
            for v in ancestors(frontier + [r for _, r in givens]):
                if (isinstance(v, SharedVariable) and v not in seen and v not in updates
                        and v not in skip and v.default_update is not None):
                    seen.add(v)
                    updates[v] = _check_update(v, v.default_update)
                    frontier.append(updates[v])
                    added = True
            if not added:
                break
    upd_vars = list(updates.keys())
    all_outs = outs + list(updates.values())
    if givens:
        all_outs = clone_replace(all_outs, dict(givens))
        for sv, expr in zip(upd_vars, all_outs[len(outs):]):
            _check_update(sv, expr)  # a dtype-changing replacement may reach an update
    if not spec.get("accept_inplace", False):
        for node in toposort(all_outs):
            if getattr(node.op, "destroy_map", None):
                raise TypeError(
                    f"function: the graph contains the in-place operation {node.op} (it "
                    f"overwrites an input); pass accept_inplace=True to allow it")
    # -- unused inputs -------------------------------------------------------------
    needed = set(ancestors(all_outs, blockers=in_vars))
    for k, v in enumerate(in_vars):
        if v not in needed:
            msg = (f"function was asked to compute outputs given an input that is not part of "
                   f"the graph: input {k} ({v}). Pass on_unused_input='ignore' (or 'warn') to "
                   f"allow it.")
            if spec["on_unused_input"] == "raise":
                raise UnusedInputError(msg)
            if spec["on_unused_input"] == "warn":
                import warnings

                warnings.warn(msg, stacklevel=3)
    for v in needed:
        if (v.owner is None and v not in in_vars and not isinstance(v, (Constant, SharedVariable))):
            raise MissingInputError(
                f"function: an output depends on {v!r} (type {v.type}), which is not an input. "
                f"Add it to the inputs list, or replace it with givens.")
    fgraph = FunctionGraph(in_vars, all_outs, clone=True)
    fgraph.n_user_outputs = len(outs)
    t1 = time.perf_counter()
    from symgraph.rewriting import optimize

    phase_times = optimize(fgraph, mode)
    t2 = time.perf_counter()
    shared_vars = sorted({v for v in fgraph.variables if isinstance(v, SharedVariable)},
                         key=lambda v: _first_use(fgraph, v))
    from symgraph.link import get_linker

    linker = get_linker(mode.linker)
    thunk = linker.make_thunk(fgraph, fgraph.inputs, shared_vars, update_vars=upd_vars)
    t3 = time.perf_counter()
    fn = Function(spec, ins, fgraph, shared_vars, upd_vars, single, thunk, mode,
                  allow_input_downcast=spec["allow_input_downcast"])
    fn._user_graph = (in_vars, all_outs)  # the graph before rewriting, for error messages
    fn.compile_times = {"build": t1 - t0, "rewrite": t2 - t1, "link": t3 - t2,
                        "phases": phase_times}
    from symgraph.compile.fastcall import make_fast_class

    # a backend may bring its own call path (the CUDA linker keeps shared values on the
    # device and commits updates there); else the generated Numba fast path, if any
    fast = getattr(thunk, "function_class", None) or make_fast_class(fn)
    if fast is not None:
        fn.__class__ = fast
    return fn


def _first_use(fgraph, v):
    order = getattr(fgraph, "_order_cache", None)
    if order is None:
        order = {}
        for k, node in enumerate(fgraph.toposort()):
            for x in node.inputs:
                order.setdefault(x, k)
        for k, o in enumerate(fgraph.outputs):
            order.setdefault(o, 10**9 + k)
        fgraph._order_cache = order
    return (order.get(v, 10**12), v.name or "", v.auto_name)


def _check_update(sv, expr):
    import symgraph.tensor as T

    expr = T.as_tensor_variable(expr)
    if expr.type.ndim != sv.type.ndim:
        raise TypeError(f"update of shared variable {sv} (type {sv.type}) has the wrong number of "
                        f"dimensions: {expr.type}")
    if expr.type.dtype != sv.type.dtype:
        raise TypeError(
            f"update of shared variable {sv} (type {sv.type}) has dtype {expr.type.dtype}; an "
            f"update must keep the shared variable's type. Cast it: T.cast(expr, "
            f"'{sv.type.dtype}').")
    return expr


class _Maker:
    """Theano's ``f.maker``: gives access to the optimized graph."""

    def __init__(self, fgraph, inputs, mode):
        self.fgraph = fgraph
        self.inputs = inputs
        self.mode = mode


class Function:
    """A compiled function. Call it with values for its inputs (positionally or by name)."""

    def __init__(self, spec, ins, fgraph, shared_vars, upd_vars, single, thunk, mode,
                 allow_input_downcast=None):
        self._spec = spec
        self.ins = ins
        self.fgraph = fgraph
        self.maker = _Maker(fgraph, ins, mode)
        self.mode = mode
        self.shared_vars = shared_vars
        self.upd_vars = upd_vars
        self.single = single
        self.thunk = thunk
        self.allow_input_downcast = allow_input_downcast
        self.trust_input = False
        self.name = spec.get("name")
        n_out = fgraph.n_user_outputs
        self.n_out = n_out
        self._containers = [v.container for v in shared_vars]
        self._upd_containers = [v.container for v in upd_vars]
        self._update_lock = update_lock(self._upd_containers)
        self._in_types = [i.variable.type for i in ins]
        self._in_names = [i.name or f"#{k}" for k, i in enumerate(ins)]
        self._name_to_pos = {i.name: k for k, i in enumerate(ins) if i.name is not None}
        self._defaults = [i.value if i.has_default else None for i in ins]
        self._has_default = [i.has_default for i in ins]
        self._copy_out = _outputs_aliasing_inputs(fgraph, n_out, upd_vars)
        self._profile = None
        from symgraph.config import config

        if spec.get("profile") or config.profile:
            self._profile = _CallProfile(self)
        self._fast = self._make_fast_filters()

    # -- inputs -------------------------------------------------------------------
    def _make_fast_filters(self):
        fast = []
        for t in self._in_types:
            if t.ndim == 0 and t.dtype == "float64":
                fast.append(float)
            elif t.ndim == 0 and t.dtype == "int64":
                fast.append(int)
            else:
                fast.append(None)
        return fast

    def _filter(self, k, v):
        t = self._in_types[k]
        if type(v) is np.ndarray and v.dtype is t.numpy_dtype and v.ndim == t.ndim:
            if not any(t.broadcastable) or all(
                    s == 1 for s, b in zip(v.shape, t.broadcastable) if b):
                return v
        if isinstance(v, Variable):
            raise TypeError(f"input {self._in_names[k]!r}: got the symbolic variable {v}; a "
                            f"compiled function takes values (numbers or numpy arrays)")
        allow = self.ins[k].allow_downcast
        if allow is None:
            allow = self.allow_input_downcast
        return t.filter(v, strict=False, allow_downcast=allow, name=self._in_names[k])

    def _bind(self, args, kwargs):
        n = len(self.ins)
        if len(args) > n:
            raise TypeError(f"function{' ' + self.name if self.name else ''} takes {n} "
                            f"argument{'s' if n != 1 else ''} ({', '.join(self._in_names)}), "
                            f"got {len(args)}")
        vals = list(args) + [_MISSING] * (n - len(args))
        for key, v in kwargs.items():
            if key not in self._name_to_pos:
                raise TypeError(f"function got an unexpected keyword argument {key!r}; inputs "
                                f"are {self._in_names}")
            k = self._name_to_pos[key]
            if vals[k] is not _MISSING:
                raise TypeError(f"function got multiple values for input {key!r}")
            vals[k] = v
        for k in range(n):
            if vals[k] is _MISSING:
                if self._has_default[k]:
                    vals[k] = self._defaults[k]
                else:
                    raise TypeError(f"function takes {n} argument{'s' if n != 1 else ''} "
                                    f"({', '.join(self._in_names)}); missing a value for input "
                                    f"{k} ({self._in_names[k]!r})")
        return vals

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) != len(self.ins):
            args = self._bind(args, kwargs)
        fast = self._fast
        if self.trust_input:
            vals = args
        else:
            vals = [a if (fast[k] is not None and type(a) is fast[k]) else self._filter(k, a)
                    for k, a in enumerate(args)]
        # calls that update shared variables hold their locks from reading the values to
        # storing the results, so threads do not lose updates (callguard.py)
        with self._update_lock:
            shared_vals = [c.value for c in self._containers]
            if self._profile is not None:
                self._profile.t0 = time.perf_counter()
            try:
                results = self._run(vals, shared_vals)
            except Exception as e:  # noqa: BLE001
                raise self._explain(e, vals, shared_vals) from None
            if self._profile is not None:
                self._profile.record(time.perf_counter() - self._profile.t0)
            n = self.n_out
            for k in self._copy_out:
                results[k] = np.array(results[k], copy=True)
            # commit updates only now, all or none: a failed or interrupted call changes nothing
            commit(self._upd_containers, results[n:])
        outs = results[:n]
        if self.single:
            return outs[0]
        return outs

    def _run(self, vals, shared_vals):
        """The thunk call; graphs with parallel kernels run on fewer threads while the
        machine is busy, and hold the layer's lock where it is not thread-safe."""
        if not getattr(self.thunk, "parallel", False):
            return self.thunk(vals, shared_vals)
        from symgraph.kernels.cpu import threads

        lock = threads.PARALLEL_LOCK if threads.serialize_parallel() else NO_LOCK
        with lock, threads.fewer_threads(threads.call_threads()):
            return self.thunk(vals, shared_vals)

    def dry_run(self, *args, **kwargs):
        """Run once without committing updates (compiles the machine code; no side effect)."""
        if kwargs or len(args) != len(self.ins):
            args = self._bind(args, kwargs)
        vals = [self._filter(k, a) for k, a in enumerate(args)]
        results = self._run(vals, [c.value for c in self._containers])
        return results[: self.n_out]

    def _explain_args(self, exc, args):
        vals = [self._filter(k, a) for k, a in enumerate(args)]
        return self._explain(exc, vals, [c.value for c in self._containers])

    def _explain(self, exc, vals, shared_vals):
        """Re-run the user's graph (before rewriting) on the py backend, only on the error
        path: the error then names the node the user wrote (not a fused or rewritten one),
        its input shapes and dtypes, and the user's source line."""
        interrupt = interrupt_from(exc)  # Ctrl-C inside a parallel kernel: no diagnosis
        if interrupt is not None:
            return interrupt
        user_graph = getattr(self, "_user_graph", None)
        if user_graph is None:
            return exc
        try:
            from symgraph.link.py.linker import PyThunk

            fg = FunctionGraph(user_graph[0], user_graph[1], clone=True)
            shared = [v for v in fg.variables if isinstance(v, SharedVariable)]
            ref = PyThunk(fg, fg.inputs, shared)
            ref_vals = [np.array(v, copy=True) for v in vals]
            ref_shared = [np.array(v.container.value, copy=True) for v in shared]
        except Exception:  # noqa: BLE001 - diagnosis must not hide the original error
            return exc
        try:
            ref(ref_vals, ref_shared)
        except Exception as ref_exc:  # noqa: BLE001
            return ref_exc
        return exc

    # -- misc ---------------------------------------------------------------------
    def copy(self):
        return _compile(self._spec)

    def __reduce__(self):
        return (_compile, (self._spec,))

    def free(self):
        pass

    def profile(self, *args, n_calls: int = 10, file=None, **kwargs):
        """Time every node (py-style execution) and the compile phases; returns the report."""
        from symgraph.compile.profiling import profile_function

        return profile_function(self, args, kwargs, n_calls=n_calls, file=file)

    def __repr__(self):
        return f"<symgraph Function {self.name or ''} ({', '.join(self._in_names)}) -> {self.n_out} output(s), {self.mode.linker}>"


_MISSING = object()


class _CallProfile:
    """Whole-call timings kept when ``SYMGRAPH_FLAGS=profile=True``; printed at exit."""

    _all: list = []

    def __init__(self, fn):
        import atexit

        self.fn = fn
        self.calls = 0
        self.seconds = 0.0
        self.t0 = 0.0
        if not _CallProfile._all:
            atexit.register(_CallProfile.report_all)
        _CallProfile._all.append(self)

    def record(self, dt):
        self.calls += 1
        self.seconds += dt

    @staticmethod
    def report_all(file=None):
        import sys

        out = file or sys.stderr
        out.write("symgraph profile (SYMGRAPH_FLAGS=profile=True):\n")
        for p in _CallProfile._all:
            ct = p.fn.compile_times
            phases = ", ".join(f"{k} {v * 1e3:.1f}ms" for k, v in ct.get("phases", {}).items())
            out.write(f"  {p.fn!r}: {p.calls} calls, {p.seconds:.4f} s in calls "
                      f"({p.seconds / max(p.calls, 1) * 1e6:.1f} us/call); compile: rewrite "
                      f"{ct.get('rewrite', 0):.3f}s [{phases}], link {ct.get('link', 0):.3f}s\n")
        out.write("  per-node times: call f.profile(*args)\n")


def _outputs_aliasing_inputs(fgraph, n_out, upd_vars=()):
    """Indices of outputs (user outputs, then update values) that get copied after a call.

    As Theano's ``insert_deepcopy``: a returned array or a shared variable's new value must
    not share memory with an input, a constant, another shared variable, or another
    output/update (the same variable twice, or a view of one); otherwise mutating one
    silently changes the other. An update may alias its own shared variable.
    """
    res = []
    roots = set(fgraph.inputs) | {v for v in fgraph.variables if isinstance(v, SharedVariable)}
    taken = set()
    for k, o in enumerate(fgraph.outputs):
        v = o
        while True:
            node = v.owner
            if node is None or v in roots:
                break
            vm = getattr(node.op, "view_map", {}) or {}
            dm = getattr(node.op, "destroy_map", {}) or {}
            src = vm.get(v.index) or dm.get(v.index)
            if not src:
                break
            v = node.inputs[src[0]]
        own = upd_vars[k - n_out] if k >= n_out else None
        if v in taken or isinstance(v, Constant) or (v in roots and v is not own):
            res.append(k)
        else:
            taken.add(v)
    return res


# ``Variable.eval`` compiles with ``function`` (the graph layer does not import this one)
set_eval_compiler(function)
