"""Helpers shared by the CUDA generators: host-function source, literals, launches."""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.link.cuda import runtime
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import cast_expr, result_cast

JIT = "@cuda.jit(cache=True)"


def make_host(src: str, env: dict, name: str = "fn"):
    """Exec host-function source ``src`` (defining ``name``) in ``env``; return it."""
    env = dict(env)
    env.setdefault("np", np)
    env.setdefault("runtime", runtime)
    exec(compile(src, f"<symgraph cuda host {name}>", "exec"), env)
    return env[name]


def src_line(node) -> str:
    tr = getattr(node.tag, "trace", ())
    if tr:
        return f"{str(tr[0][0]).rsplit('/', 1)[-1]}:{tr[0][1]}"
    return "?"


def inline_literal(v):
    """A typed literal for a single-element constant that broadcasts everywhere, else None."""
    if isinstance(v, Constant) and np.asarray(v.data).size == 1 and all(v.type.broadcastable):
        return ts.literal(np.asarray(v.data).reshape(-1)[0].item(), v.type.dtype)
    return None


def scalar_body(sop, in_names, in_dtypes, out_dtypes, fresh):
    """Statements computing scalar op ``sop`` on scalar names; returns (stmts, out_exprs)
    whose expressions have the declared output dtypes."""
    cdts = sop.compute_dtypes(list(in_dtypes), list(out_dtypes))
    stmts = []
    named = []
    for n, d, c in zip(in_names, in_dtypes, cdts):
        a = cast_expr(n, d, c)
        if a != n:
            t = fresh()
            stmts.append(f"{t} = {a}")
            named.append(t)
        else:
            named.append(n)
    sub, exprs = sop.code(named, cdts, list(out_dtypes), fresh)
    stmts.extend(sub)
    natural = sop.output_dtypes(*cdts)
    return stmts, [result_cast(e, nd, od) for e, nd, od in zip(exprs, natural, out_dtypes)]


class Launch:
    """A kernel launched over ``n`` items; remembers the configured kernel of the last
    size (configuring ``kernel[blocks, threads]`` costs more than the launch itself)."""

    __slots__ = ("kernel", "n", "cfg", "per_block")

    def __init__(self, kernel, per_block=None):
        self.kernel = kernel
        self.n = -1
        self.cfg = None
        self.per_block = per_block

    def __call__(self, n, *args):
        if n != self.n:
            self.cfg = self.kernel[runtime.grid(n, self.per_block)]
            self.n = n
        self.cfg(*args)


def host_scalar_converter(dtype):
    """f(v) -> numpy scalar of ``dtype`` from a host value of size 1 (any ndim)."""
    t = np.dtype(dtype).type

    def conv(v):
        if type(v) is t:
            return v
        if isinstance(v, np.ndarray):
            return t(v.reshape(-1)[0])
        return t(v)

    return conv
