"""``task_count()``: the thread count compiled kernels split their work for;
``split_tasks(items)``: one block of items per thread.

Why not ``numba.get_num_threads()``: that is the calling thread's current count, and
reading it makes a function uncacheable (Numba treats the thread-pool pointer it loads as
a dynamic global). ``task_count()`` reads ``threads.TASK_SYMBOL`` (Numba's maximum,
``NUMBA_NUM_THREADS``), an int registered with LLVM under a stable name, so cached
machine code finds it in every process. A kernel that sums one partial result per task
(``gemm.py``'s NN product) must not depend on how many threads run its tasks: a call on
fewer threads (``threads.call_threads`` on a busy machine, or ``numba.set_num_threads``)
gives bit-identical results.
"""
from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from symgraph.numba_compat import jit_options
from symgraph.numba_compat.llvm import declare_global

from .intops import imax, imin
from .threads import TASK_SYMBOL, register_task_symbol

__all__ = ["task_count", "split_tasks"]

register_task_symbol()  # before cached code that reads it loads (no process change)


#: extra @njit options (numba_compat.jit_options: no C-ABI wrapper on checked versions)
_JIT = jit_options()


@intrinsic
def task_count(typingctx):
    """The thread count the work is split for (jitted code only)."""
    register_task_symbol()

    def codegen(context, builder, signature, args):
        return builder.load(declare_global(builder.module, ir.IntType(64), TASK_SYMBOL))

    return types.int64(), codegen


@njit(**_JIT, cache=True, inline="always")
def split_tasks(items):
    """``(tasks, items per task)``: one contiguous block of ``items`` per thread
    (``task_count()``), the partition a ``prange(items)`` makes on all threads. For loops
    whose items are computed each alone: the split never changes a result."""
    tasks = imax(1, imin(items, task_count()))
    return tasks, (items + tasks - 1) // tasks

