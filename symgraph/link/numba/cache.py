"""On-disk cache of generated modules.

Why: Numba's own file cache (``cache=True``) only works for functions defined in a real
file. The whole generated source is written to ``<cache_dir>/numba/sg_<hash>.py`` (the
hash covers the source and the library versions), imported under that name and kept in
``sys.modules``; a second process compiling the same graph finds both the file and
Numba's cached machine code, and skips compilation.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import tempfile

_loaded: dict = {}


_SOURCES_DIGEST: list = []


def _imported_sources_digest() -> str:
    """Hash of every module generated code may import (kernels, Numba backend helpers).

    Numba's file cache does not notice when a function called by a cached function
    changes; folding these sources into the module name makes any such change produce a
    new module (and so a fresh compile) instead of running stale machine code.
    """
    if not _SOURCES_DIGEST:
        import symgraph.kernels as kernels
        import symgraph.link.numba as backend

        h = hashlib.sha256()
        for pkg in (kernels, backend):
            root = os.path.dirname(pkg.__file__)
            for dirpath, dirnames, filenames in sorted(os.walk(root)):
                dirnames.sort()
                for fn in sorted(filenames):
                    if fn.endswith(".py"):
                        with open(os.path.join(dirpath, fn), "rb") as f:
                            h.update(fn.encode() + b"\0" + f.read())
        _SOURCES_DIGEST.append(h.hexdigest()[:16])
    return _SOURCES_DIGEST[0]


def _versions() -> str:
    import numba
    import numpy

    import symgraph

    return (f"symgraph={symgraph.__version__};numba={numba.__version__};"
            f"numpy={numpy.__version__};sources={_imported_sources_digest()}")


def module_dir() -> str:
    from symgraph.config import config

    d = os.path.join(config.cache_dir, "numba")
    os.makedirs(d, exist_ok=True)
    return d


_IMPORT_RE = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.M)
_NO_FINGERPRINT = {"numpy", "numba", "math", "scipy"}
_GENERATED = re.compile(r"sg_[0-9a-f]{24}")
_fingerprints: dict = {}


def _module_fingerprint(name: str) -> str:
    """(file, mtime, size) of the .py files beside module ``name`` (it and its siblings)."""
    fp = _fingerprints.get(name)
    if fp is None:
        try:
            origin = importlib.util.find_spec(name).origin
            folder = os.path.dirname(origin)
            parts = []
            for fn in sorted(os.listdir(folder)):
                if fn.endswith(".py"):
                    st = os.stat(os.path.join(folder, fn))
                    parts.append(f"{fn}:{st.st_mtime_ns}:{st.st_size}")
            fp = f"{name}@{folder}[{','.join(parts)}]"
        except Exception:  # noqa: BLE001 - a module we cannot locate: key on its name only
            fp = name
        _fingerprints[name] = fp
    return fp


def _dependencies(src: str) -> str:
    """Fingerprints of the modules ``src`` imports code from (kernels, helpers...).

    Why: Numba's cache of ``graph_fn`` holds the machine code of the jitted functions it
    calls, and is invalidated only by a change of the generated file itself: after an edit
    of ``kernels/cpu/conv.py`` a new process would silently run the old kernel. Keying the
    module on its dependencies' files gives it a fresh name (and a fresh Numba cache)
    instead. Generated modules (``sg_<hash>``) are keyed by their contents already.
    """
    names = {a or b for a, b in _IMPORT_RE.findall(src)}
    return ";".join(_module_fingerprint(n) for n in sorted(names)
                    if n.split(".")[0] not in _NO_FINGERPRINT and not _GENERATED.fullmatch(n))


def load_module(src: str):
    """Write ``src`` to the cache (once) and import it; identical sources share a module."""
    key = hashlib.sha256((_versions() + "\n" + _dependencies(src) + "\n" + src).encode()
                         ).hexdigest()[:24]
    mod = _loaded.get(key)
    if mod is not None:
        return mod
    name = f"sg_{key}"
    path = os.path.join(module_dir(), name + ".py")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(src)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except Exception:
        sys.modules.pop(name, None)
        raise
    _loaded[key] = mod
    return mod
