"""On-disk cache of generated modules, and the one rule that invalidates cached code.

Why: Numba's own file cache (``cache=True``) only works for functions defined in a real
file. The whole generated source is written to ``<cache_dir>/numba/sg_<key>.py``,
imported under that name and kept in ``sys.modules``; a second process compiling the
same graph finds both the file and Numba's cached machine code, and skips compilation.

Invalidation, one scheme: **content hashes of the sources the machine code was built
from**. ``key`` is a SHA-256 over the library versions, :func:`sources_digest` (the
contents of every ``.py`` file of ``symgraph.kernels``, ``symgraph.link.numba`` and
``symgraph.numba_compat``, which generated code calls into or is generated with), the
contents of the package folders of any other module the source imports, and the
generated source itself. Any change to any of these gives a new module name, so a new
Numba cache entry: nothing is compared by modification time, and nothing stale can be
found under the new name. Numba caches that
symgraph does not name (a kernel's own cache, used as an extern callee by
``extern.py``) record the same :func:`sources_digest` in a marker file beside them and
are emptied when it differs. (Before, three rules did this: a sources digest, mtime
fingerprints of imported folders, and those markers; an mtime says nothing about
content, and a checkout or copy that keeps mtimes kept stale code.)

The content hash of each generated module is its name: before importing
``sg_<key>.py`` its bytes are compared with the source symgraph generated for that key,
and a file that differs (truncated, garbled, or with code appended or a constant
edited) is never imported: it is replaced, with one warning naming it, and Numba (whose
cache is keyed by the module's content) compiles afresh. The companion files are
handled where they are read: ``<module>.sigs`` (``linker.py``), ``<module>.links``
(``extern.py``), Numba's ``.nbi``/``.nbc`` (``healing.py``). Directories are checked
like ssh's (``trust.py``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import threading

from symgraph.link.numba import trust
from symgraph.link.numba.cachefiles import warn_rebuilt, write_atomic
from symgraph.link.numba.codecache import module_code
from symgraph.link.numba.healing import protect_module
from symgraph.numba_compat.cachefile import numba_cache_subdir
from symgraph.numba_compat.dispatch import disable_disk_cache, is_dispatcher

_loaded: dict = {}
_lock = threading.RLock()
_unchecked: list = []   # loaded generated modules whose imports are not checked yet

#: packages generated code calls into; their whole source tree is hashed
_PACKAGES = ("symgraph.kernels", "symgraph.link.numba", "symgraph.numba_compat")
_NO_DIGEST = {"numpy", "numba", "math", "scipy"}
_IMPORT_RE = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.M)
_GENERATED = re.compile(r"sg_[0-9a-f]{24}")
_folder_digests: dict = {}


def _folder_digest(folder: str, recursive: bool) -> str:
    """SHA-256 of the names and contents of the ``.py`` files in ``folder`` (read once
    per process)."""
    key = (folder, recursive)
    d = _folder_digests.get(key)
    if d is None:
        h = hashlib.sha256()
        for dirpath, dirnames, filenames in sorted(os.walk(folder)):
            dirnames.sort()
            if not recursive:
                dirnames.clear()
            rel = os.path.relpath(dirpath, folder)
            for fn in sorted(filenames):
                if fn.endswith(".py"):
                    with open(os.path.join(dirpath, fn), "rb") as f:
                        h.update(os.path.join(rel, fn).encode() + b"\0" + f.read() + b"\0")
        d = _folder_digests[key] = h.hexdigest()[:16]
    return d


def sources_digest() -> str:
    """Content hash of every module generated code calls into (kernels, Numba backend,
    the Numba compatibility layer that emits part of their code).

    Numba's file cache does not notice when a function called by a cached function
    changes; folding these sources into the module name makes any such change produce a
    new module (and so a fresh compile) instead of running stale machine code."""
    parts = []
    for pkg in _PACKAGES:
        root = os.path.dirname(importlib.import_module(pkg).__file__)
        parts.append(_folder_digest(root, recursive=True))
    # the code both backends share (``scalar_render.py``, ``philox.py``): cached Numba
    # functions of the backend call it
    link = os.path.dirname(importlib.import_module("symgraph.link").__file__)
    parts.append(_folder_digest(link, recursive=False))
    return "".join(parts)


def _dependencies(src: str) -> str:
    """Content hashes of the folders of the modules ``src`` imports that are not in
    :data:`_PACKAGES` (a user-registered implementation's helpers, say)."""
    names = {a or b for a, b in _IMPORT_RE.findall(src)}
    out = []
    for n in sorted(names):
        if (n.split(".")[0] in _NO_DIGEST or _GENERATED.fullmatch(n)
                or any(n == p or n.startswith(p + ".") for p in _PACKAGES)):
            continue
        try:
            origin = importlib.util.find_spec(n).origin
            out.append(f"{n}:{_folder_digest(os.path.dirname(origin), recursive=False)}")
        except Exception:  # noqa: BLE001 - a module we cannot locate: its name only
            out.append(n)
    return ";".join(out)


def _versions() -> str:
    import numba
    import numpy

    import symgraph

    return (f"symgraph={symgraph.__version__};numba={numba.__version__};"
            f"numpy={numpy.__version__};sources={sources_digest()}")


def module_key(src: str) -> str:
    return hashlib.sha256((_versions() + "\n" + _dependencies(src) + "\n" + src).encode()
                          ).hexdigest()[:24]


_trusted: set = set()


def _private(path: str, what: str = "cache directory") -> str:
    if path not in _trusted:
        trust.private_dir(path, what)
        _trusted.add(path)
    return path


def trusted_dir(path: str, what: str) -> str:
    """:func:`trust.check_dir` once per process and folder."""
    if path not in _trusted:
        trust.check_dir(path, what)
        _trusted.add(path)
    return path


def module_dir() -> str:
    """``<cache_dir>/numba``, created 0700, refused unless it is yours (``trust.py``)."""
    from symgraph.config import config

    d = os.path.join(config.cache_dir, "numba")
    if d not in _trusted:
        _private(config.cache_dir)
        _private(d)
    return d


def numba_cache_dir(py_file: str) -> str | None:
    """Where Numba keeps the ``.nbi``/``.nbc`` files of functions defined in ``py_file``
    (a generated module: its folder is ours, so writable).

    Numba tries, in order: a folder under ``NUMBA_CACHE_DIR`` when that is set (named
    after the source folder's name and a SHA-1 of its path, e.g.
    ``numba_46bb...``); ``<source folder>/__pycache__`` when writable; else a per-user
    folder (``~/.cache/numba/<same subpath>``, the case of kernels in a read-only
    install); IPython cells have their own. Files are ``<module>.<qualname>-<line>.pyXY``
    ``.nbi`` (the index) and ``.<n>.nbc`` (one per compiled signature).

    None when ``NUMBA_CACHE_DIR`` is set and Numba's internals are not used (the
    folder's name under it is Numba's private rule: ``numba_compat.cachefile``)."""
    from numba import config as nconfig

    if nconfig.CACHE_DIR:
        sub = numba_cache_subdir(py_file)
        return None if sub is None else os.path.join(nconfig.CACHE_DIR, sub)
    return os.path.join(os.path.dirname(py_file), "__pycache__")


def _numba_dirs(py_file: str) -> None:
    """Create (0700) and check the folder Numba will load this module's pickles from."""
    from numba import config as nconfig

    if nconfig.CACHE_DIR:
        _private(nconfig.CACHE_DIR, "Numba cache directory (NUMBA_CACHE_DIR)")
    folder = numba_cache_dir(py_file)
    if folder is not None:   # else inside NUMBA_CACHE_DIR, checked just above
        _private(folder, "Numba cache directory")


def _write_checked(path: str, src: str) -> bool:
    """Make ``path`` hold exactly ``src``; returns True when a damaged or missing file
    was replaced (and reported)."""
    data = src.encode()
    try:
        with open(path, "rb") as f:
            existing = f.read()
    except FileNotFoundError:
        existing = None
    if existing == data:
        return False
    base = os.path.splitext(path)[0]
    if existing is not None:
        reported = warn_rebuilt(path, "does not match the source it was generated from "
                                      "(truncated, garbled or edited)")
    elif os.path.exists(base + ".sigs") or os.path.exists(base + ".links"):
        reported = warn_rebuilt(path, "is missing (its index files are there)")
    else:
        reported = False
    write_atomic(path, data)
    return reported


def load_module(src: str):
    """Write ``src`` to the cache (once) and import it; identical sources share a module."""
    key = module_key(src)
    mod = _loaded.get(key)
    if mod is not None:
        return mod
    with _lock:
        mod = _loaded.get(key)
        if mod is not None:
            return mod
        name = f"sg_{key}"
        path = os.path.join(module_dir(), name + ".py")
        healed = _write_checked(path, src)
        _numba_dirs(path)
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            # (what ``spec.loader.exec_module`` does, with a verified code cache)
            exec(module_code(path, src), mod.__dict__)
        except Exception:
            sys.modules.pop(name, None)
            raise
        protect_module(mod)
        _unchecked.append(mod)
        mod._sg_source = src   # what a background compile is sent (glue_worker.py)
        mod._sg_healed = healed
        links = getattr(mod, "_sg_links", None)
        if links is not None and links.damaged:
            mod._sg_healed = True   # reported (if it was news) by the table
            if links.stuck:
                _compile_in_memory(mod)
        _loaded[key] = mod
        return mod


def check_imports_before_compiling() -> None:
    """Check the library functions every generated module loaded so far imports by name
    against symgraph's sources (``extern.check_module_stale``), once per module: called
    before anything compiles (``fastload.load_or_compile``), since a compile is what
    reads those functions' caches and writes them. A load from the cache needs none of
    it (a generated module's name hashes the sources), so cached loads skip the check."""
    if not _unchecked:
        return
    from symgraph.link.numba.extern import check_module_stale

    with _lock:
        mods = _unchecked[:]
        del _unchecked[:]
    for mod in mods:
        check_module_stale(mod)


def generated_imports(src: str, own: str | None = None) -> list:
    """The loaded generated modules that source ``src`` imports by name (a scan's step
    module, imported by its kernel), each after those it imports itself; ``own``, the
    name of ``src``'s module, is left out."""
    out, seen = [], {own}

    def visit(text):
        for name in sorted(set(_GENERATED.findall(text))):
            mod = sys.modules.get(name)
            if name in seen or getattr(mod, "_sg_source", None) is None:
                continue
            seen.add(name)
            visit(mod._sg_source)
            out.append(mod)

    visit(src)
    return out


def is_generated(module_name: str) -> bool:
    """Whether ``module_name`` names a module generated here (``sg_<key>``)."""
    return _GENERATED.fullmatch(module_name) is not None


def load_kernel(src: str):
    """The main function (``kernel``) of the kernel module with source ``src``.

    Called at import by graph modules, which carry their kernels' sources: a kernel
    module that is missing or damaged on disk is written afresh like any module here,
    and one already imported by another graph is shared."""
    return load_module(src).kernel


def _compile_in_memory(mod) -> None:
    """The module's damaged ``.links`` table could not drop Numba's cached machine code
    (a read-only cache): never load it in this process."""
    for v in vars(mod).values():
        if is_dispatcher(v) and v.py_func.__module__ == mod.__name__:
            disable_disk_cache(v)
