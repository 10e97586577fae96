"""Helpers shared by the CUDA generators: host-function source, launches, host scalars.

Scalar expressions (literals, casts, op templates) are rendered by
``symgraph.link.scalar_render``, shared with the Numba backend."""
from __future__ import annotations

import numpy as np

from symgraph.link.cuda import runtime

JIT = "@cuda.jit(cache=True)"


def make_host(src: str, env: dict, name: str = "fn"):
    """Exec host-function source ``src`` (defining ``name``) in ``env``; return it."""
    env = dict(env)
    env.setdefault("np", np)
    env.setdefault("runtime", runtime)
    exec(compile(src, f"<symgraph cuda host {name}>", "exec"), env)
    return env[name]


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
