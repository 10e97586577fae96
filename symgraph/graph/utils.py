"""Small helpers shared by the graph IR: creation traces and error types."""
from __future__ import annotations

import os
import sys

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class MissingInputError(Exception):
    """A compiled output depends on a variable that was not given as an input."""


class UnusedInputError(ValueError):
    """An input given to ``function`` is not needed to compute the outputs."""


def user_trace(limit: int = 1) -> tuple:
    """Return ``((filename, lineno, funcname, line), ...)`` of the user's frames.

    Why: an error at run time must name the line of *user* code that created the
    failing node, not a line inside symgraph. Walking ``sys._getframe`` is far
    cheaper than ``traceback.extract_stack`` (docs/benchmarks.md).
    """
    frames = []
    f = sys._getframe(1)
    while f is not None and len(frames) < limit:
        fn = f.f_code.co_filename
        if not fn.startswith(_PKG_DIR) and "importlib" not in fn:
            frames.append((fn, f.f_lineno, f.f_code.co_name))
        f = f.f_back
    return tuple(frames)


def user_stacklevel() -> int:
    """``stacklevel`` that makes a ``warnings.warn`` made by the caller of this function
    point at the first frame outside symgraph (the user's line)."""
    level, f = 1, sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_PKG_DIR):
        level += 1
        f = f.f_back
    return level


def format_trace(trace) -> str:
    if not trace:
        return "<unknown location>"
    out = []
    for item in trace:
        fn, lineno, name = item[:3]
        line = ""
        try:
            import linecache

            line = linecache.getline(fn, lineno).strip()
        except Exception:  # pragma: no cover - best effort only
            pass
        out.append(f'File "{fn}", line {lineno}, in {name}' + (f"\n    {line}" if line else ""))
    return "\n".join(out)
