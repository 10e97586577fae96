"""Generated per-function call paths for the Numba backend.

Why: the generic ``Function.__call__`` spends most of a tiny function's time in Python
bookkeeping. For each compiled function we generate a ``__call__`` specialised to its
inputs (exact-type fast checks, 0-d inputs passed as scalars), that calls the jitted
graph directly and commits updates inline. Anything unusual (keywords, defaults, values
needing conversion) takes the generic path, so behaviour is identical.
"""
from __future__ import annotations

import numpy as np

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
    lines.append("    try:")
    lines.append(f"        r = _graph({', '.join(call_args)})")
    lines.append("    except Exception as e:")
    lines.append("        raise self._explain_args(e, args) from None")
    results = []
    for j, o in enumerate(out_vars):
        expr = f"r[{j}]"
        if o.type.ndim == 0:
            env[f"_odt{j}"] = o.type.numpy_dtype
            expr = f"_asarray(r[{j}], _odt{j})"
        if j in fn._copy_out:
            expr = f"_copy({expr}, copy=True)"
        results.append(expr)
    for j, v in enumerate(fn.upd_vars):
        env[f"_u{j}"] = v.container
        lines.append(f"    _u{j}.value = {results[n_out + j]}")
    outs = results[:n_out]
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
        r = fast(self, *args, **kwargs)
        if record is not None:
            record()
        type(self).__call__ = fast
        return r

    return type("Function", (Function,), {"__call__": first_call, "_fast_source": src})
