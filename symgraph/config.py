"""Global settings, read once from ``SYMGRAPH_FLAGS`` and changeable by assignment.

Why a single object: every stage (constructors, rewrites, linkers) needs the same few
knobs, and Theano users expect ``theano.config.floatX = 'float32'`` to work.

Example::

    SYMGRAPH_FLAGS="floatX=float32,device=cpu" python train.py
    >>> import symgraph
    >>> symgraph.config.floatX
    'float64'
"""
from __future__ import annotations

import os
from pathlib import Path

_VALID = {
    "floatX": ("float64", "float32"),
    "device": ("cpu", "cuda"),
    "mode": ("numba", "py", "cuda", "FAST_RUN", "FAST_COMPILE", "DebugMode"),
}


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return os.path.join(base, "symgraph")


class Config:
    """Settings; unknown names raise so typos are caught early."""

    _fields = {
        "floatX": "float64",
        "device": "cpu",
        "mode": "numba",
        "cache_dir": None,
        "optimizer": "fast_run",
        "optimizer_excluding": "",
        "optimizer_including": "",
        "profile": False,
        "compute_test_value": "off",
        "warn_float64": "ignore",
    }

    def __init__(self) -> None:
        for k, v in self._fields.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "cache_dir", _default_cache_dir())

    def __setattr__(self, name: str, value) -> None:
        if name not in self._fields:
            raise AttributeError(f"symgraph.config has no setting {name!r}; known: {sorted(self._fields)}")
        if name in _VALID and value not in _VALID[name]:
            raise ValueError(f"config.{name} must be one of {_VALID[name]}, got {value!r}")
        if name == "profile" and isinstance(value, str):
            value = value.lower() in ("1", "true", "yes", "on")
        if name == "optimizer" and value in ("None", "none", None):
            value = None
        object.__setattr__(self, name, value)

    def apply_flags(self, flags: str) -> None:
        """Apply ``"name=value,name=value"`` as found in ``SYMGRAPH_FLAGS``."""
        for item in flags.split(","):
            item = item.strip()
            if not item:
                continue
            if "=" not in item:
                raise ValueError(f"SYMGRAPH_FLAGS item {item!r} is not of the form name=value")
            k, v = item.split("=", 1)
            setattr(self, k.strip(), v.strip())

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields) + ")"


config = Config()
config.apply_flags(os.environ.get("SYMGRAPH_FLAGS", "") or os.environ.get("THEANO_FLAGS", ""))
