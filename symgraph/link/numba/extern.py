"""Call already-compiled Numba functions from a generated graph without re-compiling them.

Why: when Numba code calls another ``@njit`` function, the callee's LLVM module is linked
into the caller's, optimized again and turned into machine code again, although the callee
was compiled (and disk-cached) long ago. For the network3 training graph about two thirds
of ``graph_fn``'s final module was such linked-in kernel code (conv, pool, softmax-NLL,
their ``prange`` bodies), and it paid LLVM's optimizer and code generator on every new graph.

How: an :class:`LinkTable` belongs to one generated module. ``table.extern(dispatcher)``
returns an intrinsic that, at typing time, compiles (or loads from Numba's cache) the
callee for the actual argument types, registers the callee's native entry point with LLVM
under a stable symbol name (``sgk.`` + a hash of its path, argument and return types:
``numba_compat.bysymbol``) and records
the signature in a side file next to the module (``<module>.links``). The code generator
only *declares* that symbol and calls it with Numba's own calling convention (status,
exception info and reference counts behave exactly as for a linked call). When a later
process imports the cached module, its ``LinkTable`` reads the side file and registers the
same symbols before ``graph_fn``'s cached machine code is loaded, so the symbols resolve.

The side file is JSON (argument types through ``cachefiles.encode_type``), never a pickle
(see ``trust.py``). When it is missing or unreadable while Numba's cache holds the
module's machine code, that code would call unregistered symbols (a segfault): the table
reports itself ``damaged`` and ``cache.load_module`` empties those Numba caches, so the
module is compiled afresh and the file rewritten.

Numba internals: the native entry point, the calling convention and the cache folder
go through ``symgraph.numba_compat`` (``dispatch.native_entry``, ``llvm.call_native``).
On a Numba version symgraph was not checked against, or with
``SYMGRAPH_NUMBA_FALLBACK=1``, generated modules import their callees instead of a
``LinkTable`` (``linker._extern_lines``), and Numba links each callee into its caller
(slower compiles, the same code). A hand-written module that makes a table anyway gets
the dispatcher back from ``extern`` and its machine code cached by the other path
dropped (``damaged = "public"``), so no cached code calls a symbol nothing registered.
"""
from __future__ import annotations

import inspect
import json
import os
import threading

from symgraph.link.numba.cachefiles import (
    UnsupportedType,
    decode_type,
    encode_type,
    file_lock,
    read_json,
    warn_rebuilt,
    write_json,
)
from symgraph.link.numba.fastload import load_or_compile
from symgraph.numba_compat import numba_internals
from symgraph.numba_compat.bysymbol import register_native, set_prepare, symbol_intrinsic
from symgraph.numba_compat.dispatch import cache_folder, drop_disk_cache

_checked: set = set()
_lock = threading.RLock()


def _drop_stale_cache(dispatcher):
    """Empty ``dispatcher``'s Numba disk cache when the kernel and backend sources changed
    since it was written (once per process and dispatcher).

    Why: a cached callee holds the machine code of everything it calls, and Numba
    invalidates it only when its own file changes: after an edit or upgrade of
    ``kernels/cpu/gemm.py`` the ``dot`` callee of ``impl/dot.py`` would keep running the
    old kernel. A marker next to the cache records the content hash of the sources it was
    built from (``cache.sources_digest``, the same hash that names generated modules).
    A missing marker (a cache written by plain Numba) or another hash empties the cache;
    a garbled marker is reported too. Returns True when the marker matched (the cache is
    one symgraph vouched for).

    A kernel Python called directly before any graph reached it (``pool2d_out_size``) is
    already loaded from that stale cache: its overloads are compiled afresh here too, so
    this process does not keep running the old code (and the fresh code is cached)."""
    with _lock:
        if dispatcher in _checked:
            return False
        _checked.add(dispatcher)
    from symgraph.link.numba.cache import sources_digest
    from symgraph.link.numba.healing import protect

    protect(dispatcher)
    folder = cache_folder(dispatcher)
    if not folder:
        return False
    func = dispatcher.py_func
    if os.path.dirname(os.path.abspath(folder)) != os.path.dirname(
            os.path.abspath(inspect.getfile(func))):
        # not the package's own __pycache__ (NUMBA_CACHE_DIR, or Numba's per-user
        # folder for a read-only install): its pickles are trusted as the folder is
        from symgraph.link.numba.cache import trusted_dir

        trusted_dir(folder, "Numba cache directory")
    marker = os.path.join(folder, f"{func.__module__}.{func.__qualname__}.sgdeps")
    digest = sources_digest()
    recorded = None if _legacy_marker(marker) else read_json(
        marker, lambda v: v["sources"], missing=None)
    if recorded == digest:
        return True
    drop_disk_cache(dispatcher)   # and compiles afresh what it already holds
    try:
        write_json(marker, {"sources": digest})
    except OSError:
        pass  # read-only install: the cache is not written either
    return False


def _generated(dispatcher) -> bool:
    """Whether ``dispatcher`` is defined in a generated module (``cache.load_module``):
    its module name hashes symgraph's sources, so a change of those names another
    module, and no ``.sgdeps`` marker is needed."""
    from symgraph.link.numba.cache import is_generated

    return is_generated(dispatcher.py_func.__module__)


def _legacy_marker(path: str) -> bool:
    """A marker in the earlier plain-text format (a 16-digit hex digest): outdated, not
    damaged."""
    try:
        with open(path, "rb") as f:
            raw = f.read(64)
    except OSError:
        return False
    return len(raw) == 16 and all(c in b"0123456789abcdef" for c in raw)


def _prepare_callee(dispatcher, argtys, recorded: bool = False) -> None:
    """Compile (or load) ``dispatcher`` for ``argtys`` after checking its cache against
    symgraph's sources. ``recorded``: listed by a table read from disk. This is also the
    prepare hook of ``numba_compat.bysymbol``, whose kernels call each other by symbol."""
    if _generated(dispatcher):
        # a kernel module: its name hashes the sources, never stale. Listed by a table
        # read from disk, its machine code should be in Numba's cache: say so if not
        import sys

        healed = getattr(sys.modules.get(dispatcher.py_func.__module__), "_sg_healed", False)
        if recorded and not healed and tuple(argtys) not in dispatcher.overloads:
            from symgraph.link.numba.cachefiles import reports
            from symgraph.link.numba.healing import index_path

            before = reports()
            if not load_or_compile(dispatcher, tuple(argtys)) and reports() == before:
                warn_rebuilt(index_path(dispatcher) or dispatcher.py_func.__module__,
                             "is missing or out of date (a .links table lists machine "
                             "code it does not have)")
    elif _drop_stale_cache(dispatcher):   # vouched for: its index should be there
        from symgraph.link.numba.healing import index_path

        idx = index_path(dispatcher)
        if idx and not os.path.exists(idx):
            warn_rebuilt(idx, "is missing (its .sgdeps marker is there)")
    if not load_or_compile(dispatcher, tuple(argtys)):
        from symgraph.link.numba import progress

        progress.tick()


def check_stale(dispatcher) -> None:
    """Empty ``dispatcher``'s Numba disk cache when symgraph's sources changed since it
    was written (:func:`_drop_stale_cache`; generated kernels need no check): for the
    Python tier, which loads callees from that cache to call them directly, outside any
    link table (``tier_extern.py``), so it never runs machine code older than the
    sources."""
    if not _generated(dispatcher):
        _drop_stale_cache(dispatcher)


def check_module_stale(module) -> None:
    """:func:`check_stale` every Numba dispatcher at the top level of ``module``: for a
    generated module, the library functions it imports by name, before anything
    compiles against them (``cache.check_imports_before_compiling``).

    Why: Numba checks a cache only against its own function's file. A loop of
    ``impl/random.py`` that a draw's kernel imports would keep machine code older than
    ``philox.py``, whose functions it calls; and a cache written by a compile that never
    checked it carries no marker, which the Python tier, loading that loop directly,
    reads as a cache nobody vouched for and empties (a CI run's random draws then
    compiled their wrapper after all). Generated functions need no check."""
    from symgraph.numba_compat.dispatch import is_dispatcher

    for v in list(vars(module).values()):
        if is_dispatcher(v) and getattr(v, "py_func", None) is not None:
            check_stale(v)


def _native_symbol(dispatcher, argtys, recorded: bool = False) -> tuple:
    """Compile (or load) ``dispatcher`` for ``argtys``; register its symbol and return
    ``(symbol, return type)`` (``numba_compat.bysymbol.register_native``: the symbol is
    named after the function's path, argument and return types)."""
    _prepare_callee(dispatcher, argtys, recorded)
    return register_native(dispatcher, tuple(argtys), prepared=True)


set_prepare(_prepare_callee)


def _check_raw(value):
    _check_entries(value)
    return value


def _resolve(path: str):
    import importlib

    module, qualname = path.split(":")
    return getattr(importlib.import_module(module), qualname)


def _check_entries(value):
    """The decoded entries of a ``.links`` file: ``[[path, [type, ...]], ...]``."""
    if not isinstance(value, list):
        raise ValueError("not a list")
    out = []
    for e in value:
        if not (isinstance(e, list) and len(e) == 2 and isinstance(e[0], str)
                and e[0].count(":") == 1 and isinstance(e[1], list)):
            raise ValueError(f"malformed entry {str(e)[:60]}")
        if e[1] and e[1][0] == "unrecordable":
            out.append(None)
            continue
        out.append((e[0], tuple(decode_type(t) for t in e[1])))
    return out


def _stamp(path: str):
    """``(inode, modification time ns, size)`` of ``path``, None when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class LinkTable:
    """The externally linked callees of one generated module (see the module docstring).

    ``damaged`` is None, or why the module's cached machine code cannot be trusted to
    find its symbols: ``"missing"`` (no file), ``"unreadable"`` (reported when read) or
    ``"unrecordable"`` (a callee's argument types cannot be written as JSON: the module
    is compiled in every process) or ``"public"`` (Numba's internals are not used: see
    the module docstring)."""

    def __init__(self, module_file: str):
        self.path = os.path.splitext(module_file)[0] + ".links"
        self.entries: list = []
        self._seen: set = set()
        self.damaged = None
        self.stuck = False
        self._stamp = None
        if not numba_internals():
            self.damaged = "public"
            self._drop_unlinked_code(module_file)
            return
        self._stamp = _stamp(self.path)   # before the read: a change after it is seen
        entries = read_json(self.path, _check_entries, missing=False)
        if entries is False:
            self.damaged = "missing" if not os.path.exists(self.path) else "unreadable"
            entries = []
        for e in entries:
            if e is None:
                self.damaged = "unrecordable"
                continue
            try:
                self._add(*e, save=False)
            except Exception as err:  # noqa: BLE001 - e.g. a callee that no longer exists
                warn_rebuilt(self.path, f"names a callee that cannot be loaded ({err!r:.80})")
                self.damaged = "unreadable"
        if self.damaged:
            self._drop_unlinked_code(module_file)

    def _drop_unlinked_code(self, module_file: str) -> None:
        """Machine code of this module in Numba's cache calls symbols that nothing would
        register in this process (a segfault on the first call): delete its Numba index
        files (before the module's functions are even defined), so it is compiled afresh,
        which rewrites this table. ``stuck``: they could not be deleted."""
        import glob

        from symgraph.link.numba.cache import numba_cache_dir

        folder = numba_cache_dir(module_file)
        if folder is None:   # not known without Numba's internals: keep it off the disk
            self.stuck = True
            return
        stem = os.path.splitext(os.path.basename(module_file))[0]
        pattern = os.path.join(glob.escape(folder), f"{stem}.*.nbi")
        indexes = glob.glob(pattern)
        if indexes and self.damaged == "missing":
            # once per process: a deleted symgraph cache folder with NUMBA_CACHE_DIR kept
            # leaves every module of it so (one warning each was dozens for one cause)
            warn_rebuilt(self.path, "is missing but Numba's cache holds machine code that "
                                    "needs it (was symgraph's cache folder deleted while "
                                    "Numba's, NUMBA_CACHE_DIR, was kept? Other modules "
                                    "found so in this process are compiled afresh "
                                    "without a warning each)", once="links missing")
        for idx in indexes:
            try:
                os.unlink(idx)
            except FileNotFoundError:
                pass
            except OSError:
                self.stuck = True

    def refresh(self) -> None:
        """Register the entries another process added to the file since this table read
        it (called before machine code of the module is loaded from Numba's cache: that
        code, cached by the other process, calls their symbols; an unregistered one is a
        jump to address 0). The file is read again only when its identity, size or
        modification time changed since the last read: another process replaces it
        atomically (a new file), and a cached load runs this before every kernel."""
        stamp = _stamp(self.path)
        if stamp is not None and stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            with open(self.path, encoding="utf-8") as f:
                entries = _check_entries(json.load(f)["data"])
        except Exception:  # noqa: BLE001 - missing or unreadable: handled at import
            return
        for e in entries:
            if e is None or e in self._seen:
                continue
            try:
                self._add(*e, save=False)
            except Exception:  # noqa: BLE001 - a callee that cannot load: compiled anew
                pass

    def _add(self, path: str, argtys: tuple, save: bool = True):
        name, return_type = _native_symbol(_resolve(path), argtys, recorded=not save)
        key = (path, argtys)
        with _lock:
            if key not in self._seen:
                self._seen.add(key)
                self.entries.append(key)
                if save:
                    self._save()
        return name, return_type

    def _save(self):
        # written before Numba saves graph_fn's cache entry, and atomically, so a cached
        # graph_fn never exists without the table that resolves its symbols
        # and merged with what another process may have recorded for the same module
        rows = []
        for path, argtys in self.entries:
            try:
                rows.append([path, [encode_type(t) for t in argtys]])
            except UnsupportedType:
                rows.append([path, ["unrecordable"]])
        seen = {(r[0], str(r[1])) for r in rows}
        # locked from the read to the write: another process adding its entries
        # meanwhile would otherwise lose them, and its cached code would call symbols
        # that no later process registers
        with file_lock(self.path):
            try:
                for r in read_json(self.path, _check_raw, missing=[]) or []:
                    if (r[0], str(r[1])) not in seen:
                        rows.append(r)
            except Exception:  # noqa: BLE001 - unreadable: ours replaces it
                pass
            try:
                write_json(self.path, rows)
            except OSError:
                pass  # a read-only cache: the module compiles in every process

    def extern(self, dispatcher):
        """An intrinsic calling ``dispatcher`` through its registered native symbol (the
        dispatcher itself on the public path)."""
        if self.damaged == "public":
            return dispatcher
        path = f"{dispatcher.py_func.__module__}:{dispatcher.py_func.__qualname__}"
        return symbol_intrinsic(dispatcher, lambda argtys: self._add(path, argtys), "extern")
