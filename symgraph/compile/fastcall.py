"""Generated per-function call paths for the Numba backend.

Why: the generic ``Function.__call__`` spends most of a tiny function's time in Python
bookkeeping. For each compiled function we generate a ``__call__`` specialised to its
inputs (exact-type fast checks, 0-d inputs passed as scalars), that calls the jitted
graph directly and commits updates inline (under the update lock, undone if Ctrl-C comes
between two stores: ``callguard.py``). Anything unusual (keywords, defaults, values
needing conversion) takes the generic path, so behaviour is identical.
"""
from __future__ import annotations

import numpy as np

from symgraph.compile.callguard import update_lock
from symgraph.compile.function import Function


def make_fast_class(fn):
    """A Function subclass whose ``__call__`` is specialised to ``fn`` (or None)."""
    thunk = fn.thunk
    if getattr(thunk, "module", None) is None or fn._profile is not None:
        return None
    n_in = len(fn.ins)
    n_out = fn.n_out
    out_vars = fn.fgraph.outputs
    env = {"_generic": Function.__call__, "_ndarray": np.ndarray, "_asarray": np.asarray,
           "_copy": np.array, "_graph": thunk.fn}
    lines = ["def __call__(self, *args, **kwargs):",
             f"    if kwargs or len(args) != {n_in} or self.trust_input:",
             "        return _generic(self, *args, **kwargs)"]
    if n_in:
        lines.append("    " + "".join(f"a{k}, " for k in range(n_in)) + "= args")
    call_args = []
    for k, t in enumerate(fn._in_types):
        if t.ndim == 0:
            py = {"float64": "float", "int64": "int", "bool": "bool"}.get(t.dtype)
            cond = f"a{k}.__class__ is not {py}" if py else "True"
            lines.append(f"    if {cond}:")
            lines.append(f"        a{k} = self._filter({k}, a{k})[()]")
        else:
            env[f"_dt{k}"] = t.numpy_dtype
            bc = " or True" if any(t.broadcastable) else ""
            lines.append(f"    if a{k}.__class__ is not _ndarray or a{k}.dtype is not _dt{k} "
                         f"or a{k}.ndim != {t.ndim}{bc}:")
            lines.append(f"        a{k} = self._filter({k}, a{k})")
        call_args.append(f"a{k}")
    for k, v in enumerate(fn.shared_vars):
        env[f"_c{k}"] = v.container
        call_args.append(f"_c{k}.value[()]" if v.type.ndim == 0 else f"_c{k}.value")
    for k in range(len(thunk.const_args)):
        env[f"_k{k}"] = thunk.const_args[k]
        call_args.append(f"_k{k}")
    body = []  # the call and the commit; under the update lock when there are updates
    call = f"r = _graph({', '.join(call_args)})"
    if getattr(thunk, "parallel", False):
        # graphs with parallel kernels: fewer threads on a busy machine, and one caller
        # at a time in a layer that is not thread-safe (kernels/cpu/threads.py)
        from symgraph.kernels.cpu import threads

        env["_threads"] = threads
        env["_fewer"] = threads.fewer_threads
        # read through the module at each call, as the generic path does, so the
        # thread policy (and a test's stand-in for it) is the same on both paths
        body.append("_nt = _threads.call_threads()")
        guarded = ["if _nt:", "    with _fewer(_nt):", f"        {call}", "else:", f"    {call}"]
        if threads.serialize_parallel():
            env["_plock"] = threads.PARALLEL_LOCK
            guarded = ["with _plock:"] + ["    " + g for g in guarded]
        body.append("try:")
        body += ["    " + g for g in guarded]
    else:
        body += ["try:", f"    {call}"]
    body += ["except Exception as e:", "    raise self._explain_args(e, args) from None"]
    results = []
    for j, o in enumerate(out_vars):
        expr = f"r[{j}]"
        if o.type.ndim == 0:
            env[f"_odt{j}"] = o.type.numpy_dtype
            expr = f"_asarray(r[{j}], _odt{j})"
        if j in fn._copy_out:
            expr = f"_copy({expr}, copy=True)"
        results.append(expr)
    outs = results[:n_out]
    if fn.upd_vars:
        # new values first (these calls are where a pending Ctrl-C can surface), then the
        # stores, undone if an exception still comes between two of them (callguard.py)
        for j, v in enumerate(fn.upd_vars):
            env[f"_u{j}"] = v.container
            body.append(f"n{j} = {results[n_out + j]}")
        body.append("o = (" + "".join(f"_u{j}.value, " for j in range(len(fn.upd_vars))) + ")")
        body.append("try:")
        body += [f"    _u{j}.value = n{j}" for j in range(len(fn.upd_vars))]
        body.append("except BaseException:")
        body += [f"    _u{j}.value = o[{j}]" for j in range(len(fn.upd_vars))]
        body.append("    raise")
        env["_ulock"] = update_lock([v.container for v in fn.upd_vars])
        lines.append("    with _ulock:")
        lines += ["        " + b for b in body]
    else:
        lines += ["    " + b for b in body]
    if fn.single:
        lines.append(f"    return {outs[0]}")
    else:
        lines.append("    return [" + ", ".join(outs) + "]")
    src = "\n".join(lines)
    exec(compile(src, f"<symgraph fastcall {id(fn)}>", "exec"), env)
    fast = env["__call__"]
    record = getattr(thunk, "record", None)

    def first_call(self, *args, **kwargs):
        # the first call records the argument types graph_fn was compiled for (a later
        # process then loads its machine code up front, see link/numba/linker.py), then
        # gives this class the plain fast path
        try:
            r = fast(self, *args, **kwargs)
        finally:
            # also after a failed or interrupted call: graph_fn may be compiled (and in
            # Numba's cache) already, and a later process would miss its signatures
            if record is not None:
                record()
        type(self).__call__ = fast
        return r

    return type("Function", (Function,), {"__call__": first_call, "_fast_source": src})
