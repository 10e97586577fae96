"""``imin(a, b)`` and ``imax(a, b)``: the smaller and the larger of two integers, as int64,
in compiled kernels.

Why not Python's ``min``/``max``: Numba implements them as ``@overload`` functions whose
implementation is compiled on its own, in memory, in every process, for every caller's
compile flags it meets (11-14 such compiles, 0.3 s, in a first run's two processes:
docs/benchmarks.md). These are one comparison and one select, emitted into the caller.
Integers only: a float's ``max`` keeps Python's NaN rule, which a select would not.
"""
from __future__ import annotations

from numba import types
from numba.extending import intrinsic

__all__ = ["imin", "imax"]


def _select(name, pred):
    def typer(typingctx, a, b):
        if not (isinstance(a, types.Integer) and isinstance(b, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            x = context.cast(builder, args[0], sig.args[0], types.int64)
            y = context.cast(builder, args[1], sig.args[1], types.int64)
            return builder.select(builder.icmp_signed(pred, x, y), x, y)

        return types.int64(a, b), codegen

    typer.__name__ = typer.__qualname__ = name
    return intrinsic(typer)


imin = _select("imin", "<")
imax = _select("imax", ">")
