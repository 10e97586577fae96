"""The Numba backend's Executable, and its linker (``NumbaLinker.link``).

``link`` generates one module per graph (``linker.generate_module``), loads it through
the disk cache (``cache.py``) with the machine code of the argument types an earlier
process recorded (``linker.preload_signatures``), and returns a ``NumbaExecutable``:

* ``run`` calls the module's ``graph_fn`` through its plain-Python adapter (0-d inputs
  as scalars, scalar results as 0-d arrays); graphs with parallel kernels run on fewer
  threads while the machine is busy or while fewer threads measure faster
  (``threads.CallTuner``), and hold the layer's lock where the layer is not
  thread-safe (``symgraph.kernels.cpu.threads``);
* ``entry`` is a call function generated for this one function. Why: the generic
  ``Executable.call`` spends most of a tiny function's time in Python bookkeeping; the
  generated one checks each argument's exact type inline, passes 0-d inputs as scalars,
  calls ``graph_fn`` directly and stores the updates inline (under the update lock,
  undone if Ctrl-C comes between two stores: ``link/callguard.py``). Anything unusual
  (keywords, defaults, values needing conversion) goes through the generic path, so the
  behaviour is the same;
* after a function's first call, and after any failed one, the argument types
  ``graph_fn`` was compiled for are written beside its module (``record``), so a later
  process loads that machine code up front;
* ``prepare()`` is the process tuning of ``runtime.py``, done before the first graph is
  linked (it must precede the import of the hand-written kernels, which starts Numba's
  threading layer).
"""
from __future__ import annotations

from time import perf_counter as _clock

import numpy as np

from symgraph.link.callguard import NO_LOCK
from symgraph.link.executable import Executable
from symgraph.link.numba import cache, progress, runtime
from symgraph.link.numba.linker import (
    PARALLEL_MARKERS,
    NoNumbaImplementation,
    _register_impls,
    generate_module,
    preload_signatures,
    record_signatures,
)
from symgraph.link.numba.tiered import TieredCall

__all__ = ["NumbaExecutable", "NumbaLinker"]


def _threads():
    """``symgraph.kernels.cpu.threads``, read through the module at each call so that the
    thread policy (and a test's stand-in for it) is the same on every path."""
    from symgraph.kernels.cpu import threads

    return threads


class NumbaExecutable(Executable):
    """A graph linked by the Numba backend (see the module docstring)."""

    def __init__(self, module, const_args, source, fgraph, inputs, shared, updates,
                 tiered=False, node_consts=None, **opts):
        super().__init__(fgraph, inputs, shared, updates, **opts)
        #: the generated module: ``graph_fn``, the node functions ``node<k>``, ``thunk``
        self.module = module
        #: what runs the graph: ``module.graph_fn``, or until its machine code is there
        #: the Python tier (``tiered.py``), which switches this to ``graph_fn``
        self.graph_fn = TieredCall(module, self._switch) if tiered else module.graph_fn
        self.adapter = module.thunk
        self.const_args = const_args
        self.source = source
        #: the graph runs parallel kernels (Numba's pool): per-call thread count and lock
        self.parallel = any(m in source for m in PARALLEL_MARKERS)
        #: its calls' thread count, by load and by measurement (``threads.CallTuner``)
        self.thread_tuner = _threads().CallTuner() if self.parallel else None
        self._entry = None
        self._entry_env = None
        #: node index -> the constants its code takes after its inputs (``node_function``)
        self.node_consts: dict = node_consts or {}

    @property
    def tiered(self) -> bool:
        """Whether calls still run on the Python tier (``tiered.py``)."""
        return self.graph_fn is not self.module.graph_fn

    def hold_python_tier(self) -> None:
        """Run every later call on the Python tier, also where ``graph_fn`` is compiled
        (the two are compared bit for bit by the tests; also a way to tell, when a
        result looks wrong, whether the glue or a kernel is at fault)."""
        self._switch(TieredCall(self.module, self._switch, hold=True))

    def _switch(self, graph_fn) -> None:
        """From the Python tier to the compiled glue, between two calls."""
        self.graph_fn = graph_fn
        if self.thread_tuner is not None:
            self.thread_tuner.reset()   # other code: its own timings
        if self._entry_env is not None:
            self._entry_env["_graph"] = graph_fn

    @classmethod
    def prepare(cls) -> None:
        runtime.prepare()  # once per process: threads, malloc, BLAS threads

    def run(self, vals, shared_vals):
        try:
            if not self.parallel:
                return self.adapter(self.graph_fn, vals, shared_vals, self.const_args)
            threads = _threads()
            lock = threads.PARALLEL_LOCK if threads.serialize_parallel() else NO_LOCK
            tuner = self.thread_tuner
            with lock, threads.fewer_threads(tuner.pick()):
                t0 = _clock()
                out = self.adapter(self.graph_fn, vals, shared_vals, self.const_args)
                tuner.done(_clock() - t0)
                return out
        finally:
            self.record()  # also after a failed call: graph_fn may be compiled already

    def record(self) -> None:
        """Record the argument types graph_fn has been compiled for (one length
        comparison when there is nothing new: ``linker.record_signatures``)."""
        record_signatures(self.module)

    def node_function(self, k):
        fn = getattr(self.module, f"node{k}", None)
        extra = self.node_consts.get(k)
        if fn is None or not extra:
            return fn
        return lambda *args: fn(*args, *extra)   # the constants it takes as arguments

    def entry(self):
        if self._entry is None:
            self._entry = make_fast_call(self)
        return self._entry


_warned_ops: set = set()


def _on_py_backend(missing, fgraph, inputs, shared, updates, **opts):
    """The function linked by the py backend, for a graph holding an op with no Numba
    implementation (a user's op written Theano's way, with only a Python ``perform``):
    it runs, as Theano ran such ops, in Python; warned once per op class."""
    import warnings

    from symgraph.graph.utils import user_stacklevel
    from symgraph.link import get_linker

    kind = type(missing.op)
    if kind not in _warned_ops:
        _warned_ops.add(kind)
        warnings.warn(f"symgraph: {missing.op} has no Numba implementation, so a function "
                      f"holding it runs on the py backend (numpy, node by node). Register "
                      f"one with symgraph.link.numba.dispatch.numba_impl to compile it.",
                      RuntimeWarning, stacklevel=user_stacklevel())
    return get_linker("py").link(fgraph, inputs, shared, updates, **opts)


class NumbaLinker:
    """The Numba CPU backend: ``link`` returns a :class:`NumbaExecutable`."""

    name = "numba"

    def link(self, fgraph, inputs, shared, updates, **opts) -> NumbaExecutable:
        NumbaExecutable.prepare()
        _register_impls()
        try:
            src, const_args, meta = generate_module(fgraph, fgraph.inputs, shared)
        except NoNumbaImplementation as e:
            return _on_py_backend(e, fgraph, inputs, shared, updates, **opts)
        module = cache.load_module(src)
        progress.start(module)   # a counter while new kernels compile (progress.py)
        preload_signatures(module)
        # no machine code of graph_fn in the cache yet: run on the Python tier meanwhile
        from symgraph.config import config

        tiered = config.numba_glue == "tiered" and not module.graph_fn.overloads
        if tiered:
            from symgraph.link.numba import glue_worker

            glue_worker.prestart()
        return NumbaExecutable(module, const_args, src, fgraph, inputs, shared, updates,
                               tiered=tiered, node_consts=meta[-1], **opts)


def make_fast_call(exe: NumbaExecutable):
    """Generate ``exe``'s call function (see the module docstring); its source is kept
    as ``fast_call.source``."""
    n_in = len(exe.args)
    n_out = exe.n_out
    env = {"_call": exe.call, "_filter": exe.filter, "_explain": exe.explain_args,
           "_asarray": np.asarray, "_copy": np.array, "_ndarray": np.ndarray,
           "_graph": exe.graph_fn, "_unrecorded": True}
    exe._entry_env = env   # ``_graph`` changes when the Python tier switches

    def _record():
        exe.record()
        env["_unrecorded"] = False  # recorded after a successful call: not again

    env["_record"] = _record
    env["_record_failed"] = exe.record
    lines = ["def fast_call(*args, **kwargs):",
             f"    if kwargs or len(args) != {n_in}:",
             "        return _call(*args, **kwargs)"]
    if n_in:
        lines.append("    " + "".join(f"a{k}, " for k in range(n_in)) + "= args")
    call_args = []
    for k, a in enumerate(exe.args):
        t = a.type
        if t.ndim == 0:
            py = {"float64": "float", "int64": "int", "bool": "bool"}.get(t.dtype)
            cond = f"a{k}.__class__ is not {py}" if py else "True"
            lines.append(f"    if {cond}:")
            lines.append(f"        a{k} = _filter({k}, a{k})[()]")
        else:
            env[f"_dt{k}"] = t.numpy_dtype
            bc = " or True" if any(t.broadcastable) else ""
            lines.append(f"    if a{k}.__class__ is not _ndarray or a{k}.dtype is not _dt{k} "
                         f"or a{k}.ndim != {t.ndim}{bc}:")
            lines.append(f"        a{k} = _filter({k}, a{k})")
        call_args.append(f"a{k}")
    for k, v in enumerate(exe.shared_vars):
        env[f"_c{k}"] = v.container
        # the host value, unless another backend holds a newer one (``Container``)
        read = f"(_c{k}.host if _c{k}.device_value is None else _c{k}.value)"
        call_args.append(f"{read}[()]" if v.type.ndim == 0 else read)
    for k in range(len(exe.const_args)):
        env[f"_k{k}"] = exe.const_args[k]
        call_args.append(f"_k{k}")
    body = []  # the call and the commit; under the update lock when there are updates
    call = f"r = _graph({', '.join(call_args)})"
    if exe.parallel:
        # graphs with parallel kernels: fewer threads on a busy machine, and one caller
        # at a time in a layer that is not thread-safe
        threads = _threads()
        env["_threads"] = threads
        env["_fewer"] = threads.fewer_threads
        env["_tune"] = exe.thread_tuner
        env["_clock"] = _clock
        body.append("_nt = _tune.pick()")
        body.append("_t0 = _clock()")
        guarded = ["if _nt:", "    with _fewer(_nt):", f"        {call}", "else:", f"    {call}",
                   "_tune.done(_clock() - _t0)"]
        if threads.serialize_parallel():
            env["_plock"] = threads.PARALLEL_LOCK
            guarded = ["with _plock:"] + ["    " + g for g in guarded]
        body.append("try:")
        body += ["    " + g for g in guarded]
    else:
        body += ["try:", f"    {call}"]
    body += ["except BaseException as e:",
             "    _record_failed()",
             "    if isinstance(e, Exception):",
             "        raise _explain(e, args) from None",
             "    raise",
             "if _unrecorded:",
             "    _record()"]
    results = []
    for j, o in enumerate(exe.fgraph.outputs):
        expr = f"r[{j}]"
        if o.type.ndim == 0:
            env[f"_odt{j}"] = o.type.numpy_dtype
            expr = f"_asarray(r[{j}], _odt{j})"
        if j in exe.copy_out:
            expr = f"_copy({expr}, copy=True)"
        results.append(expr)
    outs = results[:n_out]
    upd = exe.update_containers
    if upd:
        # new values first (these calls are where a pending Ctrl-C can surface), then the
        # stores, undone if an exception still comes between two of them (callguard.py)
        for j, c in enumerate(upd):
            env[f"_u{j}"] = c
            body.append(f"n{j} = {results[n_out + j]}")
        # (the containers' slots, as ``Container.value``'s setter stores them, without
        # its call: the store also makes a device copy stale)
        body.append("o = (" + "".join(f"_u{j}.host, _u{j}.device_value, "
                                      for j in range(len(upd))) + ")")
        body.append("try:")
        for j in range(len(upd)):
            body += [f"    _u{j}.host = n{j}", f"    _u{j}.device_value = None"]
        body.append("except BaseException:")
        for j in range(len(upd)):
            body += [f"    _u{j}.host = o[{2 * j}]", f"    _u{j}.device_value = o[{2 * j + 1}]"]
        body.append("    raise")
        env["_ulock"] = exe.update_lock
        lines.append("    with _ulock:")
        lines += ["        " + b for b in body]
    else:
        lines += ["    " + b for b in body]
    if exe.single:
        lines.append(f"    return {outs[0]}")
    else:
        lines.append("    return [" + ", ".join(outs) + "]")
    src = "\n".join(lines)
    exec(compile(src, f"<symgraph fast call {id(exe)}>", "exec"), env)
    fast = env["fast_call"]
    fast.source = src
    return fast
