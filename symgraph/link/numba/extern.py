"""Call already-compiled Numba functions from a generated graph without re-compiling them.

Why: when Numba code calls another ``@njit`` function, the callee's LLVM module is linked
into the caller's, optimized again and turned into machine code again, although the callee
was compiled (and disk-cached) long ago. For the network3 training graph about two thirds
of ``graph_fn``'s final module was such linked-in kernel code (conv, pool, softmax-NLL,
their ``prange`` bodies), and it paid LLVM's optimizer and code generator on every new graph.

How: an :class:`LinkTable` belongs to one generated module. ``table.extern(dispatcher)``
returns an intrinsic that, at typing time, compiles (or loads from Numba's cache) the
callee for the actual argument types, registers the callee's native entry point with LLVM
under a stable symbol name (``sgk.`` + Numba's mangled name) and records the signature in
a side file next to the module (``<module>.links``). The code generator only *declares*
that symbol and calls it with Numba's own calling convention (status, exception info and
reference counts behave exactly as for a linked call). When a later process imports the
cached module, its ``LinkTable`` reads the side file and registers the same symbols before
``graph_fn``'s cached machine code is loaded, so the symbols resolve.
"""
from __future__ import annotations

import inspect
import os
import pickle
import tempfile
import threading

from llvmlite import binding as llvm
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_registered: set = set()
_lock = threading.RLock()


def _native_symbol(dispatcher, argtys) -> str:
    """Compile (or load) ``dispatcher`` for ``argtys``; register and return its symbol."""
    dispatcher.compile(tuple(argtys))
    cres = dispatcher.overloads[tuple(argtys)]
    name = "sgk." + cres.fndesc.mangled_name
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
