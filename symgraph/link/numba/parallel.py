"""Large fused elementwise loops run on every core, without making graphs slower to compile.

Why this shape: a generated ``graph_fn`` is one Numba compilation unit. Compiling it with
``parallel=True`` would run Numba's parfor passes over the whole graph on every compile,
and an ``objmode`` block adds compile time at every site (docs/benchmarks.md). Instead
each flat elementwise loop is also written out, at code-generation time, as a small *chunk
kernel* ``kernel(operands..., lo, hi, chunks)`` with a ``prange`` over chunks, compiled (and cached)
only the first time an elementwise node actually sees ``nt >= PARALLEL_MIN`` elements.
Only compute-bound loops (transcendental functions) get this branch: plain arithmetic is
memory-bound, and one core nearly saturates the memory bandwidth of a 2-core machine.
It runs on Numba's threading layer, like the conv and pool kernels, from the calling
thread (no second Python thread: Numba's layers must not be entered concurrently).

``graph_fn`` reaches Python through one C symbol, ``symgraph_parallel_elemwise(kernel_id,
addresses, n)``: :func:`run_parallel` is a Numba intrinsic that writes the operands'
addresses to a stack array and calls it; the symbol is a ctypes callback registered with
LLVM when this module is imported (generated modules import it first, so cached machine
code finds it in every process). The callback views the operands' memory as numpy arrays
and calls the chunk kernel. Its status goes to the last slot of the address array, which
``run_parallel`` sets to ``NOT_RUN`` before the call and returns after it: ``OK``;
``FAILED`` after printing the traceback (the generated code raises RuntimeError);
``INTERRUPTED`` when Ctrl-C's ``KeyboardInterrupt`` reached the callback (the generated
code raises :class:`KernelInterrupted`, which the call path turns back into
``KeyboardInterrupt``: an exception cannot unwind through the compiled frames, and a
callback that just let it escape would only print "Exception ignored"). A slot still at
``NOT_RUN`` means the callback raised before its first line could catch anything, which
only an asynchronous Ctrl-C does, so it counts as interrupted too.
"""
from __future__ import annotations

import ctypes
import hashlib
import sys
import threading
import traceback

import numba
import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from symgraph.link.numba.fastload import load_or_compile
from symgraph.numba_compat.llvm import declare_function

#: compute-bound elementwise loops (see ``impl.elemwise.worth_parallel``) with at least
#: this many elements run in parallel; below it the hand-off to the thread pool costs more
PARALLEL_MIN = 1 << 16
SYMBOL = "symgraph_parallel_elemwise"


class ChunkKernel:
    """A chunk kernel's source and operand layout; compiled on first use."""

    def __init__(self, src: str, dtypes: list, full: list):
        self.src = src
        self.dtypes = [np.dtype(d) for d in dtypes]
        self.full = full  # per operand: True = n elements, False = one (broadcast) element
        self.fn = None
        self.loaded = False
        self.lock = threading.Lock()

    def compiled(self):
        """The jitted kernel (its module is written to and loaded from the disk cache once;
        the lock keeps two calling threads from doing that twice)."""
        if self.fn is None:
            with self.lock:
                if self.fn is None:
                    from symgraph.link.numba import cache

                    self.fn = cache.load_module(self.src).kernel
        return self.fn


_kernels: dict[int, ChunkKernel] = {}
#: the last exception raised inside the callback (also printed), for tests and debugging
last_error: list = []
#: the callback's status, in the address array's last slot
OK, FAILED, NOT_RUN, INTERRUPTED = 0, 1, 2, 3


class KernelInterrupted(RuntimeError):
    """Raised by compiled code when Ctrl-C reached a parallel kernel's callback; the call
    path (``link/callguard.py``) raises ``KeyboardInterrupt`` in its place."""


def register(src: str, dtypes: list, full: list) -> int:
    """Record a chunk kernel; returns its id (stable across processes: a source hash)."""
    kid = int.from_bytes(hashlib.sha256(src.encode()).digest()[:8], "little") >> 2
    if kid not in _kernels:
        _kernels[kid] = ChunkKernel(src, dtypes, full)
    return kid


def _view(addr: int, dtype: np.dtype, count: int) -> np.ndarray:
    buf = (ctypes.c_char * (count * dtype.itemsize)).from_address(addr)
    return np.frombuffer(buf, dtype=dtype, count=count)


def run(kid: int, addresses: int, n: int) -> None:
    """Run chunk kernel ``kid`` over ``n`` elements of the operands at ``addresses``."""
    kernel = _kernels[kid]
    k = len(kernel.dtypes)
    addrs = np.frombuffer((ctypes.c_uint64 * k).from_address(addresses), dtype=np.uint64)
    ops = [_view(int(a), dt, n if full else 1)
           for a, dt, full in zip(addrs, kernel.dtypes, kernel.full)]
    chunks = max(1, min(numba.get_num_threads() * 4, n // 4096))
    fn = kernel.compiled()
    if not kernel.loaded:
        # from the disk cache without Numba's registry set-up (see fastload.py)
        load_or_compile(fn, tuple(numba.typeof(a) for a in ops) + (types.int64,) * 3)
        kernel.loaded = True
    fn(*ops, 0, n, chunks)


def _callback(kid, addresses, n):
    status = None
    try:
        status = ctypes.c_uint64.from_address(addresses + 8 * len(_kernels[kid].dtypes))
        run(kid, addresses, n)
        status.value = OK
        return OK
    except KeyboardInterrupt:  # Ctrl-C during the kernel: reported, not printed
        if status is not None:
            status.value = INTERRUPTED
        return INTERRUPTED
    except BaseException as e:  # noqa: BLE001 - must not unwind through C frames
        last_error[:] = [e]
        traceback.print_exc(file=sys.stderr)
        if status is not None:
            status.value = FAILED
        return FAILED


_CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_uint64,
                                  ctypes.c_int64)
_callback_c = _CALLBACK_TYPE(_callback)  # kept alive for the life of the process
llvm.add_symbol(SYMBOL, ctypes.cast(_callback_c, ctypes.c_void_p).value)


@intrinsic
def run_parallel(typingctx, kid, n, operands):
    """``run_parallel(kernel_id, n, operands) -> status``: the addresses of the tuple's
    arrays written to a stack array (its last slot set to ``NOT_RUN``), the callback
    called on it, the status read back from that slot.

    Why one intrinsic: an elementwise kernel's parallel branch filled an address array
    itself (an allocation, an address and a store per operand, each typed and lowered by
    Numba); here it is one call. The operands are arguments of the call, so they stay
    alive until it returns (Numba frees a temporary right after its last use).
    """
    if not (isinstance(operands, types.BaseTuple)
            and all(isinstance(t, types.Array) for t in operands)):
        return None
    sig = types.uint64(types.int64, types.int64, operands)
    count = len(operands)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        slots = ir.ArrayType(i64, count + 1)
        with builder.goto_entry_block():
            table = builder.alloca(slots)
        for k, aty in enumerate(signature.args[2]):
            ary = context.make_array(aty)(context, builder,
                                          builder.extract_value(args[2], k))
            builder.store(builder.ptrtoint(ary.data, i64),
                          builder.gep(table, [i64(0), i64(k)], inbounds=True))
        status_slot = builder.gep(table, [i64(0), i64(count)], inbounds=True)
        builder.store(i64(NOT_RUN), status_slot)
        fn = declare_function(builder.module, ir.FunctionType(i64, [i64, i64, i64]), SYMBOL)
        builder.call(fn, [args[0], builder.ptrtoint(table, i64), args[1]])
        return builder.load(status_slot)

    return sig, codegen
