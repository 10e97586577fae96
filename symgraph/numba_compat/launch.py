"""Parallel loops over tasks without Numba's parfor compiler: :func:`task_launcher`.

``run = task_launcher(task)`` gives a function for compiled code: ``run(ntasks, *args)``
calls ``task(t, *args)`` for ``t = 0 .. ntasks-1`` on Numba's thread pool and returns when
all are done, as ``for t in prange(ntasks): task(t, *args)`` in a ``parallel=True``
function would. ``task`` is an ``@njit`` function returning nothing.

Why: a ``parallel=True`` function pays Numba's parfor passes and compiles its loop body
as a function of its own (the "gufunc"), even when that body is one call: 0.35-0.75 s
of compile per parallel loop (GEMM's, with two more parfors Numba made of its array
expressions, 3.15 s), and a new installation's first run compiled ten of the kernel
library's twelve (docs/benchmarks.md). Here ``task`` is compiled once, serially,
and cached like any function called by symbol (``bysymbol``); the caller only gains a
few instructions: the arguments stored in a stack record, a call of Numba's threading
layer with a small trampoline, and a check afterwards.

How (private: Numba's threading-layer entry points and calling convention):

- the caller stores the arguments in a record on its stack and calls
  ``numba_parallel_for``, the entry point Numba's own parallel loops call
  (``numba.np.ufunc.parallel``: registered with LLVM when the layer starts), with
  ``ntasks`` work items on ``get_num_threads()`` threads, as a parfor does;
- the layer calls the trampoline (a function of the caller's module, one per task
  symbol) on ranges of the items; it reads the record and calls ``task`` through its
  registered symbol, with Numba's calling convention;
- a task that fails writes its index into the record. After the loop, the caller runs
  that task again on its own thread, so its exception propagates as from a plain call
  (an exception cannot cross the layer's threads); should it not fail again,
  :class:`TaskFailed` (a ``RuntimeError``) says so.
- one task runs on the calling thread, without the pool.

Which thread runs which task is the layer's choice, as for ``prange``; results must not
depend on it (each task owns its part of the output: see ``kernels/cpu/tasks.py``).
Run on the pool, tasks see their array arguments without a reference count (as a
parfor's body does): the caller holds them until the tasks return, and a task must not
keep one (store it in a container, or return it) beyond its own return.
Unlike a parfor, the calling thread keeps the GIL while the tasks run (compiled graphs
call the kernels without it).

Public path (a Numba version symgraph was not checked against, or
``SYMGRAPH_NUMBA_FALLBACK=1``): ``run`` is a generated ``parallel=True`` function with
that ``prange`` loop (slower to compile, the same results).
"""
from __future__ import annotations

import inspect

__all__ = ["task_launcher", "TaskFailed"]


class TaskFailed(RuntimeError):
    """A task failed on a worker thread but not when it was run again on the caller's."""


def task_launcher(task):
    """``run(ntasks, *args)`` for compiled code, calling ``task(t, *args)`` for every
    ``t < ntasks`` on Numba's threads (see the module docstring)."""
    from symgraph.numba_compat import numba_internals

    params = list(inspect.signature(task.py_func).parameters)[1:]
    if not numba_internals():
        return _prange_launcher(task, params)
    return _intrinsic_launcher(task, params)


def _prange_launcher(task, params):
    """The public path: a ``parallel=True`` function with a ``prange`` loop."""
    import numpy as np
    from numba import njit, prange

    ps = "".join(f", {p}" for p in params)
    src = (f"def run_{task.py_func.__name__}(ntasks{ps}):\n"
           f"    for t in prange(ntasks):\n"
           f"        task(np.int64(t){ps})\n")
    ns = {"prange": prange, "task": task, "np": np, "__name__": task.py_func.__module__}
    exec(compile(src, f"<task_launcher {task.py_func.__qualname__}>", "exec"), ns)
    return njit(parallel=True)(ns[f"run_{task.py_func.__name__}"])


class StartThreads:
    """A ``reload_init`` entry: starts Numba's threading layer before cached machine code
    that calls ``numba_parallel_for`` loads (the symbol is registered when it starts)."""

    def __reduce__(self):
        return (StartThreads, ())

    def __eq__(self, other):
        return isinstance(other, StartThreads)

    def __hash__(self):
        return hash(StartThreads)

    def __call__(self):
        _start_threads()


def _start_threads():
    import numba

    numba.get_num_threads()   # the public call that starts the layer (once per process)


def _intrinsic_launcher(task, params):
    from llvmlite import ir
    from numba import types

    from symgraph.numba_compat.bysymbol import Reload, _path, fixed_arity_intrinsic, register_native
    from symgraph.numba_compat.llvm import call_native, counted_loop, declare_function

    path = _path(task)
    i64 = ir.IntType(64)
    i8p = ir.IntType(8).as_pointer()

    def trampoline(context, module, symbol, argtys, record_ty):
        """``void(char **args, intp *dims, intp *steps, void *data)``, the work-item
        function of Numba's threading layer: items ``args[0] + i * steps[0]`` for
        ``i < dims[0]``. The caller passes the record's address as the base, with step
        1, so an item's offset from ``data`` is its task index (a null base would not
        do: the layers keep a null pointer null)."""
        name = symbol + ".tasks"
        fn = module.globals.get(name)
        if fn is not None:
            return fn
        fnty = ir.FunctionType(ir.VoidType(), [i8p.as_pointer(), i64.as_pointer(),
                                               i64.as_pointer(), i8p])
        fn = ir.Function(module, fnty, name)
        fn.linkage = "internal"
        items, dims, steps, data = fn.args
        builder = ir.IRBuilder(fn.append_basic_block("entry"))
        first = builder.sub(builder.ptrtoint(builder.load(items), i64),
                            builder.ptrtoint(data, i64))
        step = builder.load(steps)
        record = builder.bitcast(data, record_ty.as_pointer())
        i32 = ir.IntType(32)
        nargs = len(argtys) - 1
        vals = [builder.load(builder.gep(record, [i32(0), i32(k)], inbounds=True))
                for k in range(nargs)]
        failed = builder.gep(record, [i32(0), i32(nargs)], inbounds=True)
        call_conv = context.call_conv
        callee = declare_function(module, call_conv.get_function_type(types.none, argtys),
                                  symbol)
        with counted_loop(builder, builder.load(dims)) as loop:
            t = builder.add(first, builder.mul(loop.index, step))
            status, _ = call_conv.call_function(builder, callee, types.none, argtys,
                                                [t] + vals)
            with builder.if_then(status.is_error, likely=False):
                builder.store_atomic(t, failed, "monotonic", 8)
        builder.ret_void()
        return fn

    def typer(typingctx, ntasks, args):
        if not isinstance(ntasks, types.Integer):
            return None
        argtys = (types.int64,) + tuple(types.unliteral(a) for a in args)
        symbol, return_type = register_native(task, argtys)
        if return_type != types.none:
            raise TypeError(f"task_launcher: {path} must return nothing, not {return_type}")
        sig = types.none(ntasks, *args)

        def codegen(context, builder, signature, llargs):
            # private: the active library's reload list, as ``bysymbol.by_symbol`` records
            reload = context.active_code_library._reload_init
            reload.add(StartThreads())
            reload.add(Reload(path, argtys, symbol))
            _start_threads()
            n = context.cast(builder, llargs[0], signature.args[0], types.int64)
            vals = [context.cast(builder, v, t, u)
                    for v, t, u in zip(llargs[1:], signature.args[1:], argtys[1:])]
            one = i64(1)
            with builder.if_else(builder.icmp_signed("==", n, one)) as (single, several):
                with single:
                    call_native(context, builder, symbol, types.none, argtys, [i64(0)] + vals)
                with several:
                    with builder.if_then(builder.icmp_signed(">", n, one)):
                        _launch(context, builder, symbol, argtys, n, vals)
            return context.get_dummy_value()

        return sig, codegen

    def _unowned(context, builder, ty, value):
        """An array argument as the tasks see it: without its meminfo and parent, as
        Numba's parfor bodies see theirs. The caller holds the array until every task
        has returned; with the meminfo, each view a task takes (``x[n, c]``) would
        update the one reference count from every thread at once, and that cache line
        going from core to core made a pooling layer's two tasks take 1.8 times one
        task's time instead of half (docs/benchmarks.md)."""
        if not isinstance(ty, types.Array):
            return value
        ary = context.make_array(ty)(context, builder, value=value)
        ary.meminfo = ir.Constant(ary.meminfo.type, None)
        ary.parent = ir.Constant(ary.parent.type, None)
        return ary._getvalue()

    def _launch(context, builder, symbol, argtys, n, vals):
        record_ty = ir.LiteralStructType([v.type for v in vals] + [i64])
        with builder.goto_entry_block():
            record = builder.alloca(record_ty)
            first = builder.alloca(i8p)
            dims = builder.alloca(i64)
            steps = builder.alloca(i64)
        i32 = ir.IntType(32)
        for k, (v, ty) in enumerate(zip(vals, argtys[1:])):
            builder.store(_unowned(context, builder, ty, v),
                          builder.gep(record, [i32(0), i32(k)], inbounds=True))
        failed = builder.gep(record, [i32(0), i32(len(vals))], inbounds=True)
        builder.store(i64(-1), failed)
        builder.store(builder.bitcast(record, i8p), first)
        builder.store(n, dims)
        builder.store(i64(1), steps)
        fn = trampoline(context, builder.module, symbol, argtys, record_ty)
        nthreads = builder.call(
            declare_function(builder.module, ir.FunctionType(i64, []), "get_num_threads"), [])
        parallel_for = declare_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p] * 5 + [i64] * 3),
            "numba_parallel_for")
        builder.call(parallel_for, [builder.bitcast(fn, i8p), builder.bitcast(first, i8p),
                                    builder.bitcast(dims, i8p), builder.bitcast(steps, i8p),
                                    builder.bitcast(record, i8p), i64(0), i64(1), nthreads])
        t = builder.load(failed)
        with builder.if_then(builder.icmp_signed(">=", t, i64(0)), likely=False):
            call_native(context, builder, symbol, types.none, argtys, [t] + vals)
            context.call_conv.return_user_exc(
                builder, TaskFailed,
                (f"a task of {path} failed on a worker thread but not when run again",))

    return fixed_arity_intrinsic(f"run_{task.py_func.__name__}", ["ntasks"] + params,
                                 lambda typingctx, args: typer(typingctx, args[0], args[1:]))
