"""``function``: compile symbolic inputs -> outputs (+ updates) into a callable.

Pipeline (see docs/ARCHITECTURE.md): clone into a FunctionGraph with givens applied and updates as
extra outputs -> rewrite -> link: the backend (py/numba/cuda) returns an ``Executable``
(``symgraph.link.executable``) that checks inputs, runs, and commits updates only when
the whole call succeeded -> wrap it in a ``Function``, Theano's user-facing object.

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
from operator import attrgetter

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
from symgraph.link.executable import Arg


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
            raise TypeError(f"{what} must be a dict or a list of (variable, expression) "
                            f"pairs") from None
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

    allow_all = spec["allow_input_downcast"]
    args = [Arg(i.variable.type, i.name, i.has_default, i.value if i.has_default else None,
                i.allow_downcast if i.allow_downcast is not None else allow_all)
            for i in ins]
    # the graph before rewriting: errors of a call name the node the user wrote
    executable = get_linker(mode.linker).link(fgraph, args, shared_vars, upd_vars,
                                              single=single, user_graph=(in_vars, all_outs),
                                              name=spec.get("name"))
    t3 = time.perf_counter()
    fn = Function(spec, ins, executable, mode)
    fn.compile_times = {"build": t1 - t0, "rewrite": t2 - t1, "link": t3 - t2,
                        "phases": phase_times}
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
    """A compiled function. Call it with values for its inputs (positionally or by name).

    The call itself is the backend's: ``f(...)`` runs ``f.executable``'s entry point
    (``symgraph.link.executable``), which checks the arguments, runs the linked graph
    and commits the updates, the same for every backend. ``trust_input = True`` skips
    the conversion of the arguments (the caller guarantees their types), and a profiled
    function (``profile=True``) times each call.
    """

    #: ``f(...)`` is ``f._call(...)``: the Executable's entry, or the trusting or timed
    #: variant (``_choose_call``). A property rather than a method so that the call
    #: costs no Python frame of its own: for a scalar function the frame would be a
    #: sizeable part of the call (docs/benchmarks.md).
    __call__ = property(attrgetter("_call"))

    def __init__(self, spec, ins, executable, mode):
        self._spec = spec
        self.ins = ins
        self.executable = executable
        self.fgraph = executable.fgraph
        self.maker = _Maker(executable.fgraph, ins, mode)
        self.mode = mode
        self.name = spec.get("name")
        self.shared_vars = executable.shared_vars
        self.upd_vars = executable.update_vars
        self.n_out = executable.n_out
        self.single = executable.single
        self._trust_input = False
        self._profile = None
        from symgraph.config import config

        if spec.get("profile") or config.profile:
            self._profile = _CallProfile(self)
        self._call = self._choose_call()

    def _choose_call(self):
        exe = self.executable
        call = exe.call_trusted if self._trust_input else exe.entry()
        if self._profile is not None:
            call = self._profile.timed(call)
        return call

    @property
    def __signature__(self):
        """``inspect.signature(f)``: the entry's (the ``__call__`` property hides it)."""
        import inspect

        return inspect.signature(self._call)

    @property
    def trust_input(self) -> bool:
        """Theano's ``trust_input``: when True, calls take their values as given (no
        conversion, no check): only for callers that pass values of the input types."""
        return self._trust_input

    @trust_input.setter
    def trust_input(self, value):
        self._trust_input = bool(value)
        self._call = self._choose_call()

    def dry_run(self, *args, **kwargs):
        """Run once without committing updates (compiles the machine code; no side effect)."""
        return self.executable.dry_run(*args, **kwargs)

    # -- misc ---------------------------------------------------------------------
    def get_shared(self):
        """Theano's ``get_shared``: the shared variables this function reads or updates."""
        read = list(self.shared_vars)
        return read + [v for v in self.upd_vars if v not in read]

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
        names = ", ".join(self.executable.names)
        return (f"<symgraph Function {self.name or ''} ({names}) -> {self.n_out} output(s), "
                f"{self.mode.linker}>")




class _CallProfile:
    """Whole-call timings kept when ``SYMGRAPH_FLAGS=profile=True``; printed at exit."""

    _all: list = []

    def __init__(self, fn):
        import atexit

        self.fn = fn
        self.calls = 0
        self.seconds = 0.0
        if not _CallProfile._all:
            atexit.register(_CallProfile.report_all)
        _CallProfile._all.append(self)

    def record(self, dt):
        self.calls += 1
        self.seconds += dt

    def timed(self, call):
        """``call``, recording the time of each successful call."""
        clock = time.perf_counter

        def timed_call(*args, **kwargs):
            t0 = clock()
            result = call(*args, **kwargs)
            self.record(clock() - t0)
            return result

        return timed_call

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


# ``Variable.eval`` compiles with ``function`` (the graph layer does not import this one)
set_eval_compiler(function)
