"""Mode: which backend links the graph and which rewrites run first.

It lives with the backends because backends use it too: a loop op (``Map``, ``Scan``)
compiles its inner graph with the mode of the outer function. ``symgraph.compile.mode``
(Theano's ``theano.compile.mode``) re-exports it.

Example::

    >>> from symgraph.compile.mode import Mode
    >>> m = Mode(linker='py').excluding('fusion')
"""
from __future__ import annotations

from symgraph.config import config
from symgraph.rewriting.engine import optimizer_name

_ALIASES = {"FAST_RUN": "numba", "numba": "numba", "cpu": "numba", "py": "py",
            "FAST_COMPILE": "py", "DebugMode": "py", "cuda": "cuda", "gpu": "cuda"}


class Mode:
    """A linker name ('numba', 'py', 'cuda') plus optimizer settings.

    ``optimizer`` is one of Theano's optimizer names (``'fast_run'``, ``'fast_compile'``,
    ``'merge'``, ``'stabilize'``, ``'o1'``..``'o4'``, ``'unsafe'``; see
    ``rewriting.engine.OPTIMIZERS``); ``None`` runs no rewrites at all; ``'default'`` (as
    in Theano) is ``config.optimizer``; any other value is refused here. The default stays
    ``'fast_run'``, unlike Theano's ``'default'``: backends compile inner graphs (scan,
    Map) with ``Mode(linker)`` and rely on the full rewrites there; ``function(mode=None)``
    and mode names go through ``get_mode``, which does use ``config.optimizer``.
    ``excluding``/``including`` select rewrites by name or tag.
    """

    def __init__(self, linker: str | None = None, optimizer="fast_run", excluding=(),
                 including=()):
        if linker is None:
            linker = _default_linker()
        if linker not in _ALIASES:
            raise ValueError(f"unknown linker {linker!r}; choose from {sorted(set(_ALIASES.values()))}")
        self.linker = _ALIASES[linker]
        if optimizer == "default":
            optimizer = config.optimizer
        self.optimizer = optimizer_name(optimizer)
        self.excluding_tags = tuple(excluding)
        self.including_tags = tuple(including)

    def excluding(self, *tags) -> "Mode":
        return Mode(self.linker, self.optimizer, self.excluding_tags + tags, self.including_tags)

    def including(self, *tags) -> "Mode":
        return Mode(self.linker, self.optimizer, self.excluding_tags, self.including_tags + tags)

    def __repr__(self):
        return (f"Mode(linker={self.linker!r}, optimizer={self.optimizer!r}, "
                f"excluding={list(self.excluding_tags)}, including={list(self.including_tags)})")

    def key(self):
        return (self.linker, self.optimizer, self.excluding_tags, self.including_tags)


def _default_linker() -> str:
    if config.device == "cuda":
        return "cuda"
    return _ALIASES.get(config.mode, "numba")


#: Theano's named modes that fix their optimizer (``predefined_modes``): FAST_COMPILE is
#: the py backend with the cheap rewrites only
_MODE_OPTIMIZER = {"FAST_COMPILE": "fast_compile"}


def get_mode(mode) -> Mode:
    """Turn ``None``/a string/a Mode into a Mode, applying config flags."""
    if isinstance(mode, Mode):
        m = mode
    elif mode is None:
        m = Mode(None, _MODE_OPTIMIZER.get(config.mode, config.optimizer))
    elif isinstance(mode, str):
        m = Mode(mode, _MODE_OPTIMIZER.get(mode, config.optimizer))
    else:
        raise TypeError(f"mode must be None, a string or a Mode, got {mode!r}")
    extra = [t for t in config.optimizer_excluding.replace(":", ",").split(",") if t]
    if extra:
        m = m.excluding(*[t for t in extra if t not in m.excluding_tags])
    inc = [t for t in config.optimizer_including.replace(":", ",").split(",") if t]
    if inc:
        m = m.including(*[t for t in inc if t not in m.including_tags])
    return m
