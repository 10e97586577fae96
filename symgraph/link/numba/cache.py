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
import sys
import tempfile

_loaded: dict = {}


def _versions() -> str:
    import numba
    import numpy

    import symgraph

    return f"symgraph={symgraph.__version__};numba={numba.__version__};numpy={numpy.__version__}"


def module_dir() -> str:
    from symgraph.config import config

    d = os.path.join(config.cache_dir, "numba")
    os.makedirs(d, exist_ok=True)
    return d


def load_module(src: str):
    """Write ``src`` to the cache (once) and import it; identical sources share a module."""
    key = hashlib.sha256((_versions() + "\n" + src).encode()).hexdigest()[:24]
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
