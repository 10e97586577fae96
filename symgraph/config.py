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
    "floatX": ("float64", "float32", "float16"),
    "device": ("cpu", "cuda"),
    "mode": ("numba", "py", "cuda", "FAST_RUN", "FAST_COMPILE", "DebugMode", "NanGuardMode"),
    # the names of rewriting.engine.OPTIMIZERS (tests/rewriting/test_optimizer_names.py
    # checks the two lists agree; config cannot import the rewriting layer)
    "optimizer": ("fast_run", "fast_compile", "merge", "stabilize", "o1", "o2", "o3", "o4",
                  "unsafe", None),
    "compute_test_value": ("off", "ignore", "warn", "raise", "pdb"),
    "warn_float64": ("ignore", "warn", "raise", "pdb"),
    "on_unused_input": ("raise", "warn", "ignore"),
    # the Numba backend's new graphs: run at once on the Python tier while the glue
    # compiles in the background, or compile the glue first (link/numba/tiered.py)
    "numba_glue": ("tiered", "compiled"),
}

#: settings that hold free text (tag lists, paths), checked only to be strings
_TEXT = ("cache_dir", "optimizer_excluding", "optimizer_including")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _to_bool(name, value):
    if isinstance(value, (bool, int)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"config.{name} must be a boolean (True/False, or one of "
                     f"{_TRUE + _FALSE[:-1]} as text), got {value!r}")


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
        "on_unused_input": "raise",
        "numba_glue": "tiered",
    }

    def __init__(self) -> None:
        for k, v in self._fields.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "cache_dir", _default_cache_dir())

    def __setattr__(self, name: str, value) -> None:
        if name not in self._fields:
            raise AttributeError(f"symgraph.config has no setting {name!r}; known: {sorted(self._fields)}")
        object.__setattr__(self, name, self._validate(name, value))

    @staticmethod
    def _validate(name: str, value):
        """Every setting is checked when set, so a typo fails at the assignment (or at
        import, for ``SYMGRAPH_FLAGS``) rather than being silently ignored later."""
        if name == "optimizer" and value in ("None", "none"):
            value = None
        if name == "profile":
            return _to_bool(name, value)
        if name in _TEXT:
            if not isinstance(value, str):
                raise ValueError(f"config.{name} must be a string, got {type(value).__name__} "
                                 f"{value!r}")
            return value
        if name in _VALID and value not in _VALID[name]:
            raise ValueError(f"config.{name} must be one of {_VALID[name]}, got {value!r}")
        return value

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
