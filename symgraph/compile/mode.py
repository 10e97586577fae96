"""Theano's ``theano.compile.mode``: ``Mode`` and ``get_mode`` (defined in
``symgraph.link.mode``, beside the backends that use them)."""
from symgraph.link.mode import _ALIASES, Mode, _default_linker, get_mode  # noqa: F401

__all__ = ["Mode", "get_mode"]
