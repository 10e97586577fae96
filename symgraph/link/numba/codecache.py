"""The compiled Python code of generated modules, cached beside them and verified.

Why: importing a generated module compiles its source to a code object in every process
unless Python wrote a ``.pyc`` for it, and Python writes none under
``PYTHONDONTWRITEBYTECODE`` (common in containers, set in this project's CI): a cached
load of the LSTM training function compiled 28 modules, 308 KiB of source, 0.045 s of
its 0.5 s. Where Python did write one, it trusted it blindly: a truncated ``.pyc`` of a
generated module made ``symgraph.function`` fail with ``EOFError: marshal data too
short`` in every later process, and a flipped bit in its body would have run other code.

What: ``<module>.<cache tag>.code`` next to the module (``cache.module_dir``, a folder
symgraph keeps private: ``trust.py``) holds the marshalled code object after a header:
a format tag, the interpreter's bytecode magic number, a BLAKE2b digest of the source
it was compiled from and one of the marshalled body. A file that fails any check is
reported (``CacheFileWarning``, once) and replaced; a missing one is written silently
(the first process, or a cache written by an earlier symgraph). The import machinery's
own ``.pyc`` files are neither read nor written for generated modules.
"""
from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sys

from symgraph.link.numba.cachefiles import warn_rebuilt, write_atomic

_TAG = b"symgraph-code 1\n"
_DIGEST = 16


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=_DIGEST).digest()


def code_path(module_path: str) -> str:
    """Where the code object of the generated module at ``module_path`` is cached."""
    base = os.path.splitext(module_path)[0]
    return f"{base}.{sys.implementation.cache_tag}.code"


def module_code(module_path: str, src: str):
    """The code object of the generated module ``src`` (written at ``module_path``):
    from its verified cache file, else compiled (and the file written)."""
    data = src.encode()
    path = code_path(module_path)
    head = _TAG + importlib.util.MAGIC_NUMBER + _digest(data)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        raw = None
    if raw is not None:
        body = raw[len(head) + _DIGEST:]
        if raw.startswith(head) and raw[len(head):len(head) + _DIGEST] == _digest(body):
            try:
                return marshal.loads(body)
            except (EOFError, ValueError, TypeError):
                pass
        # a source change gives the module another name, hence another file: this one
        # is damaged
        warn_rebuilt(path, "does not match its generated module (truncated, garbled or "
                           "edited)")
    code = compile(data, module_path, "exec", dont_inherit=True)
    body = marshal.dumps(code)
    try:
        write_atomic(path, head + _digest(body) + body)
    except OSError:
        pass   # a read-only cache: compiled in each process, as before
    return code
