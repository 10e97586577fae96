"""Products and sums the Python tier runs by calling their kernel's one callee directly.

Why: a ``Dot`` or ``Gemm`` node's kernel, and a float sum's over leading and/or trailing
axes, is a few lines around one call of a compiled function shared by every graph
(``impl/dot.py``'s ``dot``, ``gemm_to``, ``gemm_inplace``; ``helpers.sum_lmr``; reached
by symbol): a shape check, an allocation or a contiguous view, the call. Yet each new
graph compiled that wrapper before its first call, 0.05-0.15 s of Numba's pipeline per
signature (five to seven in an MLP's or network3's training function:
docs/benchmarks.md). On the tier the node now does what the wrapper does, in Python, and
calls the callee's compiled overload for the very argument types the wrapper passes it.

The same bits, by construction: the callee's machine code is the wrapper's (on Numba's
private path the wrapper calls it by symbol, ``numba_compat.bysymbol``: one compiled
function, loaded here for the same signature once compiled; until then the wrapper
runs, which compiles it), and the wrapper around it
computes nothing but an empty output, a view, or a conversion numpy rounds as it does
(a float64 sum to float32). Only operands whose types the wrapper passes on unchanged
qualify (a ``Dot``'s typed C or F: ``blas_ready`` is then the operand itself; a
``Gemm``'s any; a sum's view is typed C whatever its input's layout); a ``Dot`` operand
typed 'A', a shape the wrapper refuses (its error is its own), or Numba's public path
(where the wrapper links the callee in) runs the compiled wrapper instead.

Random draws (uniform and normal: ``impl/random.py``'s loops, Philox streams whose state
the node returns) are the same kind of wrapper, and run so too. The neural-network ops
(softmax, cross-entropy, convolution, pooling), whose kernels are checks around one call
as well, are described and run by ``tier_nnet.py`` through the
same :class:`ExternNode` (a program of kind "nnet").
"""
from __future__ import annotations

import numpy as np

from symgraph.link.numba.plan_compile import Compiled, StandIn, new_value_type

__all__ = ["extern_program", "ExternNode"]

_BLAS = ("float32", "float64", "complex64", "complex128")


def extern_program(node):
    """A description of ``node`` (plain values) for :class:`ExternNode`, or None: a
    ``Dot`` of BLAS dtypes (1-d or 2-d operands), a ``Gemm``, a float sum over
    leading and/or trailing axes (``impl/reduce.py``'s call of ``helpers.sum_lmr``), a
    uniform or normal ``RandomDraw`` (its loop: ``impl/random.uniform_f32`` ...), or a
    neural-network op (``tier_nnet.py``)."""
    from symgraph.link.numba.impl.reduce import float_sum_plan
    from symgraph.link.numba.tier_nnet import nnet_program
    from symgraph.tensor.dot import Dot, Gemm
    from symgraph.tensor.math import Reduce
    from symgraph.tensor.random import RandomDraw

    prog = nnet_program(node)   # softmax, cross-entropy, conv, pooling (``tier_nnet.py``)
    if prog is not None:
        return prog
    op = node.op
    if type(op) is RandomDraw and op.dist in ("uniform", "normal"):
        from symgraph.link.numba.impl.random import _FUNCS

        return {"kind": "random",
                "callee": f"symgraph.link.numba.impl.random:{_FUNCS[(op.dist, op.dtype)]}",
                "dim_lens": list(op.dim_lens), "bcast": [bool(b) for b in op.bcast]}
    dt = node.outputs[0].type.dtype
    if type(op) is Reduce:
        plan = float_sum_plan(op, node)
        if plan is None:
            return None
        kept, a, b, acc = plan
        return {"kind": "sum", "kept": kept, "lead": a, "trail": b, "acc": acc,
                "out": dt, "in": node.inputs[0].type.dtype}
    if dt not in _BLAS or any(v.type.dtype != dt for v in node.inputs
                              if v.type.ndim):
        return None
    if type(op) is Dot:
        a, b = node.inputs
        if not (1 <= a.type.ndim <= 2 and 1 <= b.type.ndim <= 2):
            return None
        return {"kind": "dot", "ndim": [a.type.ndim, b.type.ndim]}
    if type(op) is Gemm:
        return {"kind": "gemm", "inplace": bool(op.inplace), "dtype": dt}
    return None


_DOT = "symgraph.link.numba.impl.dot"


def _callee(path: str):
    """The compiled function ``"module:function"`` names (a program's callee)."""
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


class _NeedsKernel(Exception):
    """Raised while probing whether an ``ExternNode`` needs its compiled kernel."""


class ExternNode(StandIn):
    """Stands in for a product's, a sum's, a random draw's or a neural-network op's
    kernel in a Python-tier plan (see the module docstring and ``tier_nnet.py``)."""

    def __init__(self, dispatcher, prog):
        super().__init__(dispatcher)
        self.prog = prog
        self._probing = False
        self._probed: dict = {}   # argument types -> its Compiled, or False (a kernel)

    def runs_without_kernel(self, argtys) -> bool:
        """Whether the callee is compiled (in memory or on disk) for the types these
        arguments give it: when not, the plan compiles the node's kernel as any other
        (which compiles the callee), on the worker too, instead of this node compiling
        it in this process when first called (a first run on an empty cache compiled
        the heavy kernels, conv and pooling, one after another here)."""
        argtys = tuple(argtys)
        found = self._probed.get(argtys)
        if found is None:
            self._probing = True
            try:
                found = self[argtys]
            except _NeedsKernel:
                found = False
            finally:
                self._probing = False
            self._probed[argtys] = found
        return found is not False

    def _needs_kernel(self, argtys):
        """The compiled wrapper (a fallback of ``__getitem__``); while probing
        (:meth:`runs_without_kernel`), the answer that it is needed."""
        if self._probing:
            raise _NeedsKernel
        return self._compiled(argtys)

    def _overload(self, path: str, argtys):
        """The callee's overload for ``argtys`` when it is in memory or in the disk cache,
        else None: then the wrapper is compiled here as before, which compiles the
        callee. (Compiling the callee here directly raced with the worker compiling the
        same callee for the wrapper on an empty cache, and the next process found no
        usable entry and compiled it again, through Numba's registry refresh.)"""
        from symgraph.link.numba.extern import check_stale
        from symgraph.link.numba.fastload import load_cached

        callee = _callee(path)
        check_stale(callee)   # (what a link table does before it loads a callee)
        if not load_cached(callee, argtys):
            return None
        return callee.overloads[tuple(argtys)]

    def __getitem__(self, argtys):
        from symgraph.numba_compat import numba_internals

        argtys = tuple(argtys)
        found = self._probed.get(argtys)
        if found:   # (probed, and runs without its kernel)
            return found
        if not numba_internals():
            return self._needs_kernel(argtys)
        kernel = self._compiled_entry(argtys)
        if self.prog["kind"] == "nnet":
            from symgraph.link.numba.tier_nnet import nnet_entry

            return nnet_entry(self, argtys, kernel) or self._needs_kernel(argtys)
        if self.prog["kind"] == "random":
            return self._random(argtys, kernel)
        if self.prog["kind"] == "dot":
            return self._dot(argtys, kernel)
        if self.prog["kind"] == "sum":
            return self._sum(argtys)
        return self._gemm(argtys, kernel)

    def _compiled_entry(self, argtys):
        """The compiled wrapper's entry point, compiled (or loaded) only when a call
        needs it (a shape it refuses)."""
        def call(*args):
            return self._compiled(argtys).entry_point(*args)
        return call

    def _dot(self, argtys, kernel):
        from numba import types

        # ``blas_ready`` passes an operand typed C or F on as it is (one typed 'A' it may
        # copy: its type changes, and the wrapper runs)
        if len(argtys) != 2 or not all(isinstance(t, types.Array) and t.layout in "CF"
                                       for t in argtys):
            return self._needs_kernel(argtys)
        cres = self._overload(f"{_DOT}:dot", argtys)
        if cres is None:
            return self._needs_kernel(argtys)
        run = cres.entry_point
        ia = self.prog["ndim"][0] - 1   # the wrapper's check: a's last axis, b's first

        def entry(a, b):
            if a.shape[ia] != b.shape[0]:
                return kernel(a, b)
            return run(a, b)

        return Compiled(entry, cres.signature.return_type)

    def _gemm(self, argtys, kernel):
        from numba import types

        if len(argtys) != 5 or not isinstance(argtys[0], types.Array):
            return self._needs_kernel(argtys)
        tz, talpha, tx, ty, tbeta = argtys
        inplace = self.prog["inplace"]
        dt = self.prog["dtype"]
        tout = tz if inplace else new_value_type(dt, 2)
        cres = (self._overload(f"{_DOT}:gemm_inplace", (talpha, tx, ty, tbeta, tz))
                if inplace else
                self._overload(f"{_DOT}:gemm_to", (talpha, tx, ty, tbeta, tz, tout)))
        if cres is None:
            return self._needs_kernel(argtys)
        run = cres.entry_point

        def entry(z, alpha, x, y, beta):
            # the wrapper's two checks; a misfit runs it, for its error
            if (x.shape[1] != y.shape[0] or z.shape[0] != x.shape[0]
                    or z.shape[1] != y.shape[1]):
                return kernel(z, alpha, x, y, beta)
            if inplace:
                run(alpha, x, y, beta, z)
                return z
            out = np.empty((z.shape[0], z.shape[1]), dt)
            run(alpha, x, y, beta, z, out)
            return out

        return Compiled(entry, tout)

    def _random(self, argtys, kernel):
        """A ``RandomDraw``'s wrapper (``impl/random.numba_random_draw``): the sizes read and
        checked as it reads them (int64), the draw of their product by its loop
        (``uniform_f32`` ...), the flat sample viewed with the sizes (a 0-d one: its first
        value)."""
        from numba import types

        prog = self.prog
        lens = prog["dim_lens"]
        def signed_int(t):
            return isinstance(t, types.Integer) and t.signed

        ok = (len(argtys) == 1 + len(lens) and isinstance(argtys[0], types.Array)
              and all(signed_int(t) if ln is None else
                      isinstance(t, types.Array) and t.ndim == 1 and signed_int(t.dtype)
                      for t, ln in zip(argtys[1:], lens)))
        if not ok:
            return self._needs_kernel(argtys)
        cres = self._overload(prog["callee"], (argtys[0], types.int64))
        if cres is None:
            return self._needs_kernel(argtys)
        run = cres.entry_point
        bcast = prog["bcast"]
        t_state, t_flat = cres.signature.return_type
        nd = len(bcast)
        t_out = (t_flat.dtype if nd == 0 else
                 types.Array(t_flat.dtype, nd, "C", readonly=not t_flat.mutable,
                             aligned=t_flat.aligned))
        ret = types.BaseTuple.from_types([t_state, t_out])

        def entry(state, *sizes):
            dims = []
            for d, ln in zip(sizes, lens):
                if ln is None:
                    dims.append(int(d))
                elif d.shape[0] != ln:
                    return kernel(state, *sizes)
                else:
                    dims.extend(int(v) for v in d[:ln])
            total = 1
            for v in dims:
                total *= v
            if (any(v < 0 for v in dims) or any(v != 1 for v, b in zip(dims, bcast) if b)
                    or total >= 1 << 63):   # (the kernel's errors; an int64 product overflows)
                return kernel(state, *sizes)
            new, flat = run(state, total)
            return new, (flat[0] if nd == 0 else flat.reshape(tuple(dims)))

        return Compiled(entry, ret)

    def _sum(self, argtys):
        """The wrapper: ``x`` made C-contiguous (a copy only when it is not) and viewed
        as (leading, kept, trailing), ``sum_lmr`` on that with the accumulator's zero,
        the result converted to the output dtype (float64 to float32: one rounding,
        numpy's as the kernel's) and shaped as the kept axes."""
        from numba import from_dtype, types

        prog = self.prog
        (tx,) = argtys if len(argtys) == 1 else (None,)
        if not (isinstance(tx, types.Array) and tx.ndim >= 1
                and str(tx.dtype) == prog["in"]):
            return self._needs_kernel(argtys)
        acc = np.dtype(prog["acc"]).type(0)
        t3 = types.Array(tx.dtype, 3, "C", aligned=tx.aligned)   # ascontiguousarray, reshape_c
        cres = self._overload("symgraph.link.numba.helpers:sum_lmr",
                              (t3, from_dtype(np.dtype(prog["acc"]))))
        if cres is None:
            return self._needs_kernel(argtys)
        run = cres.entry_point
        kept, lead, trail = prog["kept"], prog["lead"], prog["trail"]
        out = np.dtype(prog["out"])

        def entry(x):
            s = run(np.ascontiguousarray(x).reshape(_lmr(x.shape, lead, trail)), acc)
            if not kept:
                return out.type(s[0])
            return (s if s.dtype == out else s.astype(out)).reshape(
                tuple(x.shape[d] for d in kept))

        return Compiled(entry, new_value_type(prog["out"], len(kept)))


def _lmr(shape, lead, trail):
    """The kernel's ``x3`` view of an input of ``shape``: the sizes of the axes before
    ``lead``, from ``lead`` to ``trail`` (the kept ones) and from ``trail`` on (with no
    kept axis, ``lead == trail == 0``: (1, 1, size))."""
    n = [1, 1, 1]
    for d, size in enumerate(shape):
        n[0 if d < lead else 1 if d < trail else 2] *= size
    return tuple(n)
