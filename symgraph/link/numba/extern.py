"""Call already-compiled Numba functions from a generated graph without re-compiling them.

Why: when Numba code calls another ``@njit`` function, the callee's LLVM module is linked
into the caller's, optimized again and turned into machine code again, although the callee
was compiled (and disk-cached) long ago. For the network3 training graph about two thirds
of ``graph_fn``'s final module was such linked-in kernel code (conv, pool, softmax-NLL,
their ``prange`` bodies), and it paid LLVM's optimizer and code generator on every new graph.

How: an :class:`LinkTable` belongs to one generated module. ``table.extern(dispatcher)``
returns an intrinsic that, at typing time, compiles (or loads from Numba's cache) the
callee for the actual argument types, registers the callee's native entry point with LLVM
under a stable symbol name (``sgk.`` + a hash of its path and argument types) and records
the signature in a side file next to the module (``<module>.links``). The code generator
only *declares* that symbol and calls it with Numba's own calling convention (status,
exception info and reference counts behave exactly as for a linked call). When a later
process imports the cached module, its ``LinkTable`` reads the side file and registers the
same symbols before ``graph_fn``'s cached machine code is loaded, so the symbols resolve.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import tempfile
import threading

from llvmlite import binding as llvm
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from symgraph.link.numba.fastload import load_or_compile

_registered: set = set()
_checked: set = set()
_lock = threading.RLock()


def _drop_stale_cache(dispatcher):
    """Empty ``dispatcher``'s Numba disk cache when the kernel and backend sources changed
    since it was written (once per process and dispatcher).

    Why: a cached callee holds the machine code of everything it calls, and Numba
    invalidates it only when its own file changes: after an edit or upgrade of
    ``kernels/cpu/gemm.py`` the ``dot`` callee of ``impl/dot.py`` would keep running the
    old kernel. A marker next to the cache records the sources digest it was built from.

    A kernel Python called directly before any graph reached it (``pool2d_out_size``) is
    already loaded from that stale cache: its overloads are compiled afresh here too, so
    this process does not keep running the old code (and the fresh code is cached)."""
    with _lock:
        if dispatcher in _checked:
            return
        _checked.add(dispatcher)
    from symgraph.link.numba.cache import _imported_sources_digest

    cache = getattr(dispatcher, "_cache", None)
    folder = getattr(cache, "cache_path", None)
    if not folder:
        return
    func = dispatcher.py_func
    marker = os.path.join(folder, f"{func.__module__}.{func.__qualname__}.sgdeps")
    digest = _imported_sources_digest()
    try:
        with open(marker) as f:
            if f.read() == digest:
                return
    except OSError:
        pass
    cache.flush()
    if dispatcher.overloads:
        dispatcher.recompile()
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(digest)
        os.replace(tmp, marker)
    except OSError:
        pass  # read-only install: the cache is not written either


def _native_symbol(dispatcher, argtys) -> str:
    """Compile (or load) ``dispatcher`` for ``argtys``; register and return its symbol.

    The symbol is named after the function's path and argument types, not Numba's
    mangled name: that one carries a per-process counter, so a callee compiled afresh
    (its cache dropped) would get a name the cached graphs calling it never heard of."""
    _drop_stale_cache(dispatcher)
    load_or_compile(dispatcher, tuple(argtys))
    cres = dispatcher.overloads[tuple(argtys)]
    func = dispatcher.py_func
    key = f"{func.__module__}:{func.__qualname__}{tuple(argtys)}"
    name = "sgk." + hashlib.sha256(key.encode()).hexdigest()[:32]
    with _lock:
        if name not in _registered:
            addr = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
            llvm.add_symbol(name, addr)
            _registered.add(name)
    return name, cres


def _resolve(path: str):
    import importlib

    module, qualname = path.split(":")
    return getattr(importlib.import_module(module), qualname)


class LinkTable:
    """The externally linked callees of one generated module (see the module docstring)."""

    def __init__(self, module_file: str):
        self.path = os.path.splitext(module_file)[0] + ".links"
        self.entries: list = []
        self._seen: set = set()
        if os.path.exists(self.path):
            try:
                with open(self.path, "rb") as f:
                    entries = pickle.load(f)
            except (OSError, EOFError, pickle.UnpicklingError) as e:
                raise RuntimeError(
                    f"symgraph: the link table {self.path} of a cached graph module is "
                    f"unreadable ({e}); delete the cache folder "
                    f"{os.path.dirname(self.path)} to rebuild it") from e
            for path, argtys in entries:
                self._add(path, argtys, save=False)

    def _add(self, path: str, argtys: tuple, save: bool = True):
        name, cres = _native_symbol(_resolve(path), argtys)
        key = (path, argtys)
        with _lock:
            if key not in self._seen:
                self._seen.add(key)
                self.entries.append(key)
                if save:
                    self._save()
        return name, cres

    def _save(self):
        # written before Numba saves graph_fn's cache entry, and atomically, so a cached
        # graph_fn never exists without the table that resolves its symbols
        # and merged with what another process may have recorded for the same module
        entries = list(self.entries)
        try:
            with open(self.path, "rb") as f:
                entries += [e for e in pickle.load(f) if e not in self._seen]
        except (OSError, EOFError, pickle.UnpicklingError):
            pass
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(entries, f)
        os.replace(tmp, self.path)

    def extern(self, dispatcher):
        """An intrinsic calling ``dispatcher`` through its registered native symbol."""
        path = f"{dispatcher.py_func.__module__}:{dispatcher.py_func.__qualname__}"
        table = self

        def typer(typingctx, args):
            argtys = tuple(types.unliteral(a) for a in args)
            name, cres = table._add(path, argtys)
            sig = cres.signature.return_type(*args)

            def codegen(context, builder, signature, llargs):
                vals = [context.cast(builder, v, t, u)
                        for v, t, u in zip(llargs, signature.args, argtys)]
                fnty = context.call_conv.get_function_type(signature.return_type, argtys)
                fn = cgutils.get_or_insert_function(builder.module, fnty, name)
                status, res = context.call_conv.call_function(
                    builder, fn, signature.return_type, argtys, vals)
                with cgutils.if_unlikely(builder, status.is_error):
                    context.call_conv.return_status_propagate(builder, status)
                return res

            return sig, codegen

        # an intrinsic needs a fixed arity (Numba's lowering rejects ``*args`` here)
        params = ", ".join(inspect.signature(dispatcher.py_func).parameters)
        fname = f"extern_{dispatcher.py_func.__name__}"
        ns = {"typer": typer}
        exec(f"def {fname}(typingctx, {params}):\n    return typer(typingctx, ({params},))\n", ns)
        return intrinsic(ns[fname])
