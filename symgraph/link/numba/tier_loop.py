"""The Python tier runs a scan's loop itself, calling the step's kernels from Python.

Why: on the Python tier (``tiered.py``) a scan node used to run as its compiled loop
kernel, and that kernel calls the step's compiled glue (``graph_fn`` of the step module):
before a new graph's first call, each scan compiled its step's kernels, its step glue and
its loop. For an LSTM's training function that was two loops (forward and backward) of
about 0.7-0.8 s and two step glues of about 0.4 s, in the one process or the other,
while the kernels are what compute (docs/benchmarks.md). Here the loop is plain Python:
it allocates the same buffers, calls the step as a Python-tier plan of the step module
(its kernels called one by one, as for any graph), and copies each step's values into
the buffers. The loop kernel and its step glue still compile, for the graph's compiled
glue, in the background worker: sent there when the plan reaches the loop, behind every
kernel a plan waits for (``glue_worker``'s ``ahead`` queue).

The same bits as the compiled loop, by construction: the loop itself only copies values
(numpy's copies between arrays of one dtype, as ``copy_into`` copies element by element),
and each step runs the step's kernels for the very argument types the compiled loop
passes to the step's glue: a sequence's or buffer's row typed by Numba's typing of
``a[t]`` (``numba_compat.typing.index_result``), the non-sequences as the loop receives
them, the step module's array constants as read-only arrays (Numba freezes a global array
as a read-only constant). The loop's results are typed as the compiled loop returns them
(a buffer's leading slice, a ring buffer's last row copied, a per-step output's slice).
Where any of these types cannot be given (Numba's internals unavailable), the compiled
loop runs. ``tests/link/numba/test_tier_loop.py`` compares these types with the compiled
loop's, and both tiers' results bit for bit.
"""
from __future__ import annotations

import sys

import numpy as np

from symgraph.link.numba.plan_compile import Compiled, StandIn, new_value_type

__all__ = ["PythonLoop"]

#: run scan loops in Python on the tier (tests switch it off to compare)
ENABLED = True


class _Untyped(Exception):
    """A type the loop cannot give as the compiled loop has it: run the compiled loop."""


def _row(array_type):
    """The Numba type of ``a[t]`` for ``a`` of ``array_type`` (an integer index)."""
    from symgraph.numba_compat.typing import index_result

    t = index_result(array_type, "i")
    if t is None:
        raise _Untyped(array_type)
    return t


def _leading(array_type):
    """The Numba type of ``a[:k]``."""
    from symgraph.numba_compat.typing import index_result

    t = index_result(array_type, "s")
    if t is None:
        raise _Untyped(array_type)
    return t


def _copy_into(dst, src) -> None:
    """``helpers.copy_into`` in numpy: the same refusal of another shape, the same copy."""
    if np.shape(src) != dst.shape:
        raise ValueError("copy_into: the value does not have the destination's shape")
    dst[...] = src


class PythonLoop(StandIn):
    """Stands in for a scan's loop kernel in a Python-tier plan (as ``tiered.PythonNode``
    does for other nodes): ``overloads[argtys]`` gives a plain-Python loop with the loop
    kernel's return type, its step a plan of the step module's kernels. ``spec`` is the
    generator's ``NumbaCode.loop`` (``impl/scan.py``)."""

    def __init__(self, dispatcher, spec: dict):
        super().__init__(dispatcher)
        self.spec = spec
        self._entries: dict = {}
        self._tier = None
        #: per argument types: (the step's argument types, the loop's return type)
        self.typed: dict = {}
        #: per argument types: the worker's job compiling the loop kernel for the glue
        self.ahead: dict = {}

    def __getitem__(self, argtys):
        argtys = tuple(argtys)
        entry = self._entries.get(argtys)
        if entry is None:
            try:
                entry = self._build(argtys)
            except _Untyped:
                entry = self._compiled(argtys)
            self._entries[argtys] = entry
        return entry

    def _step_module(self):
        mod = sys.modules.get(self.spec["step"])
        if mod is None or not hasattr(mod, "_sg_tier"):
            raise _Untyped(self.spec["step"])
        return mod

    def step_types(self, argtys, consts) -> tuple:
        """The argument types the compiled loop passes to the step's glue."""
        from numba import typeof

        s = self.spec
        ns, nst = s["n_seqs"], len(s["states"])
        tys = [_row(t) for t in argtys[1:1 + ns]]
        for (dtype, ndim), taps in zip(s["states"], s["taps"]):
            tys += [_row(new_value_type(dtype, ndim + 1))] * len(taps)
        tys += list(argtys[1 + ns + nst:])
        tys += [typeof(c).copy(readonly=True) for c in consts]
        return tuple(tys)

    def return_type(self):
        """The compiled loop's return type (see the module docstring)."""
        from numba import types

        s = self.spec
        rets = [new_value_type(dt, nd) if ring else _leading(new_value_type(dt, nd + 1))
                for (dt, nd), ring in zip(s["states"], s["ring"])]
        rets += [_leading(new_value_type(dt, nd + 1)) for dt, nd in s["nitsot"]]
        return rets[0] if len(rets) == 1 else types.Tuple(rets)

    def _send_ahead(self, argtys) -> None:
        """Queue the compile of the loop kernel itself (the compiled glue calls it) to the
        background worker, behind every kernel a plan waits for: the worker compiles it
        while it would otherwise wait for the glue job, which then finds it cached."""
        from symgraph.link.numba import glue_worker, plan_compile
        from symgraph.numba_compat import numba_internals

        if not (plan_compile.USE_WORKER and numba_internals()) or argtys in self.ahead:
            return
        src = plan_compile.source_of(self.dispatcher)
        if src is not None and glue_worker.available():
            self.ahead[argtys] = glue_worker.submit_kernel(src, argtys, self, ahead=True)

    def _build(self, argtys):
        from symgraph.link.numba.tiered import PythonTier

        mod = self._step_module()
        self._send_ahead(argtys)
        consts = tuple(getattr(mod, f"_sg_K{k}") for k in range(self.spec["n_consts"]))
        step_tys = self.step_types(argtys, consts)
        ret = self.return_type()
        if self._tier is None:
            self._tier = PythonTier(mod)
        params = self._tier.spec["params"]
        # the plan's constant lines read only the constants (``l_<dtype>`` arrays)
        step = self._tier.plan(step_tys, [None] * (len(params) - len(consts)) + list(consts))
        self.typed[argtys] = (step_tys, ret)
        return Compiled(_loop(self.spec, step, consts), ret)


def _loop(spec: dict, step, consts):
    """The loop of ``impl/scan.py``'s ``numba_scan`` in Python, calling ``step``."""
    ns, nn = spec["n_seqs"], spec["n_nonseqs"]
    states, nitsot, taps, ring = spec["states"], spec["nitsot"], spec["taps"], spec["ring"]
    nst, nnit = len(states), len(nitsot)
    lens = [-min(t) for t in taps]
    until, error = spec["until"], spec["error"]

    def run(n, *args):
        n = int(n)
        seqs = args[:ns]
        inits = args[ns:ns + nst]
        tail = args[ns + nst:ns + nst + nn] + consts
        if n < 0 or any(s.shape[0] < n for s in seqs):
            raise ValueError(error)
        bufs = []
        for x, (dtype, ndim), L, rg in zip(inits, states, lens, ring):
            rows = L if rg else L + n
            b = np.empty((rows,) + x.shape[1:] if ndim else (rows,), dtype=dtype)
            _copy_into(b[:L], x[:L])
            bufs.append(b)
        zs = [np.empty((0,) * (ndim + 1), dtype=dtype) for dtype, ndim in nitsot]
        ran = n
        for t in range(n):
            a = [s[t] for s in seqs]
            for b, ks, L, rg in zip(bufs, taps, lens, ring):
                a += [b[(t + L + k) % L] if rg else b[t + L + k] for k in ks]
            r = step(*a, *tail)
            for i, (b, (_, ndim), L, rg) in enumerate(zip(bufs, states, lens, ring)):
                row = t % L if rg else t + L
                if ndim:
                    _copy_into(b[row], r[i])
                else:
                    b[row] = r[i]
            for j, (dtype, ndim) in enumerate(nitsot):
                v = r[nst + j]
                if t == 0:
                    zs[j] = np.empty((n,) + np.shape(v) if ndim else (n,), dtype=dtype)
                if ndim:
                    _copy_into(zs[j][t], v)
                else:
                    zs[j][t] = v
            if until and r[nst + nnit]:
                ran = t + 1
                break
        rets = []
        for b, (_, ndim), L, rg in zip(bufs, states, lens, ring):
            if not rg:
                rets.append(b[:L + ran])
            else:
                last = b[(ran + L - 1) % L]
                rets.append(last.copy() if ndim else last)
        rets += [z[:ran] for z in zs]
        return rets[0] if len(rets) == 1 else tuple(rets)

    return run
