"""Which cache directories symgraph will load code from: the ones only you can write.

Why: everything in the compile cache ends up executed. The generated modules are
imported, and Numba's ``.nbi``/``.nbc`` files are pickles (unpickling runs code) holding
machine code that is called directly. Anyone who can write a file there can run code as
you. symgraph checks its own index files (JSON, never pickle) and the content of each
generated module (see ``cache.py``), but it cannot check Numba's pickles before Numba
unpickles them; what protects those is who can write the directory, as for ssh's
``~/.ssh``: a cache directory that another user owns, or that is group- or
world-writable, is refused with :class:`CacheTrustError` (the message says how to fix
it), and directories symgraph creates are created ``0700``.

Directories owned by root are accepted, as ssh does (root can replace your files anyway).
"""
from __future__ import annotations

import os
import stat

__all__ = ["CacheTrustError", "check_dir", "private_dir"]


class CacheTrustError(PermissionError):
    """A cache directory symgraph would load code from is not safe to trust."""


def check_dir(path: str, what: str = "cache directory") -> None:
    """Raise :class:`CacheTrustError` unless ``path`` is a directory owned by this user
    (or root) that neither group nor others can write."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise CacheTrustError(f"symgraph: the {what} {path} is not a directory; remove it "
                              f"or choose another one (SYMGRAPH_FLAGS=cache_dir=...)")
    uid = os.geteuid()
    if st.st_uid not in (uid, 0):
        raise CacheTrustError(
            f"symgraph: refusing the {what} {path}: it is owned by uid {st.st_uid}, not by "
            f"you (uid {uid}), so its owner could make you run their code. Fix: remove it "
            f"(rm -rf {path}) or use a directory of your own (SYMGRAPH_FLAGS=cache_dir=...)")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheTrustError(
            f"symgraph: refusing the {what} {path}: it is group- or world-writable "
            f"(mode {stat.S_IMODE(st.st_mode):#o}), so others could make you run their "
            f"code. Fix: chmod 700 {path} (or remove it; symgraph recreates it 0700)")


def private_dir(path: str, what: str = "cache directory") -> str:
    """Create ``path`` (mode 0700) if it is missing, then :func:`check_dir` it."""
    try:
        os.makedirs(path, mode=0o700)
    except FileExistsError:
        pass
    check_dir(path, what)
    return path
