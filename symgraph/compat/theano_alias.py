"""Opt-in: make ``import theano`` (and ``theano.tensor``, ``theano.tensor.nnet``,
``theano.tensor.signal.pool``, ``theano.sandbox.rng_mrg``, ``theano.gof``, ...) resolve to
symgraph for the rest of the process.

Why: layer libraries written for Theano do ``import theano`` themselves, so changing the
imports of one's own script is not enough. Importing this module installs an import hook
(a finder at the front of ``sys.meta_path``) that answers every ``theano`` module name
with the symgraph module that implements it -- the same module object, so
``theano.tensor is symgraph.tensor``. It changes the import system of the whole process,
which is why it is never done implicitly: import it first, or run the script with
``python -m symgraph.run_theano script.py``.

It refuses (``ImportError``) when a real Theano is already imported, since two libraries
under one name would mix their graphs. A ``theano`` module symgraph does not provide gives
``ModuleNotFoundError`` naming the module, never a silent fall-through to an installed
Theano.

Example::

    import symgraph.compat.theano_alias  # noqa: F401  (before anything imports theano)
    import theano, theano.tensor as T
    from theano.tensor.nnet import conv2d
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: theano module name -> symgraph module implementing it. Names not listed map by prefix
#: (``theano.tensor.sort`` -> ``symgraph.tensor.sort``); their leaf names must not clash
#: with an attribute of the symgraph parent package, since Python sets the parent's
#: attribute after each submodule import.
ALIASES = {
    "theano": "symgraph",
    "theano.gof": "symgraph.compat.gof",
    "theano.gof.graph": "symgraph.compat.gof.graph",
    "theano.scan_module": "symgraph.scan_module",
    "theano.ifelse": "symgraph.ifelse",
    "theano.shared_randomstreams": "symgraph.tensor.shared_randomstreams",
    "theano.tensor.nnet.nnet": "symgraph.tensor.nnet.basic",
    "theano.tensor.nnet.abstract_conv": "symgraph.tensor.nnet.abstract_conv",
    "theano.compile.sharedvalue": "symgraph.compile.shared",
    "theano.sandbox": "symgraph.sandbox",
    "theano.sandbox.rng_mrg": "symgraph.sandbox.rng_mrg",
}


class RealTheanoImportedError(ImportError):
    """A real Theano was imported before the alias could be installed."""


def target_name(fullname: str) -> str:
    """The symgraph module name answering the theano module ``fullname``."""
    if fullname in ALIASES:
        return ALIASES[fullname]
    parts = fullname.split(".")
    for k in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:k])
        if prefix in ALIASES:
            return ALIASES[prefix] + "." + ".".join(parts[k:])
    raise KeyError(fullname)  # pragma: no cover - 'theano' itself is always listed


class _AliasLoader(importlib.abc.Loader):
    """Hands the import system an already imported symgraph module."""

    def __init__(self, module):
        self.module = module
        self.spec = getattr(module, "__spec__", None)

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        # the import system stamped the theano spec on the module: give it its own back,
        # so symgraph's modules keep their identity (reload, pickling by name, -m)
        if self.spec is not None:
            module.__spec__ = self.spec


class TheanoAliasFinder(importlib.abc.MetaPathFinder):
    """Answers ``theano`` and ``theano.*`` with symgraph's modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "theano" and not fullname.startswith("theano."):
            return None
        real = target_name(fullname)
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as e:
            if e.name is not None and (real == e.name or real.startswith(e.name + ".")):
                raise ModuleNotFoundError(
                    f"No module named {fullname!r}: symgraph (standing in for Theano through "
                    f"symgraph.compat.theano_alias) has no {real!r}", name=fullname) from None
            raise
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module),
                                               is_package=hasattr(module, "__path__"))


_FINDER = TheanoAliasFinder()


def _real_theano_modules() -> list:
    import symgraph

    return [name for name, mod in list(sys.modules.items())
            if (name == "theano" or name.startswith("theano.")) and mod is not None
            and not _is_symgraph(mod, symgraph)]


def _is_symgraph(mod, symgraph) -> bool:
    name = getattr(getattr(mod, "__spec__", None), "name", None) or getattr(mod, "__name__", "")
    return name == "symgraph" or name.startswith("symgraph.")


def install() -> None:
    """Install the hook (idempotent). Raises ``RealTheanoImportedError`` when a real
    Theano is already imported in this process."""
    real = _real_theano_modules()
    if real:
        mod = sys.modules.get("theano") or sys.modules[real[0]]
        where = getattr(mod, "__file__", None) or "an unknown location"
        version = getattr(sys.modules.get("theano"), "__version__", "unknown version")
        raise RealTheanoImportedError(
            f"symgraph.compat.theano_alias: a real Theano ({version}, {where}) is already "
            f"imported in this process, so `import theano` cannot be made to mean symgraph. "
            f"Import symgraph.compat.theano_alias before anything imports theano, or run the "
            f"script with `python -m symgraph.run_theano script.py`.")
    if _FINDER not in sys.meta_path:
        _register_loaded()
        sys.meta_path.insert(0, _FINDER)


def _register_loaded() -> None:
    """Enter every symgraph module already imported under its theano name. Why: after a
    submodule import, Python sets it as an attribute of its parent package; for a name
    that is also a function there (``theano.tensor.sort`` vs ``T.sort``) a first import
    through the finder would replace the function with the module. A module already in
    ``sys.modules`` is returned as it is, with no such assignment."""
    for name, mod in list(sys.modules.items()):
        if mod is None or not (name == "symgraph" or name.startswith("symgraph.")):
            continue
        alias = "theano" + name[len("symgraph"):]
        if alias in sys.modules:
            continue
        try:
            if target_name(alias) != name:
                continue
        except KeyError:  # pragma: no cover - every theano name has a target
            continue
        sys.modules[alias] = mod


def is_installed() -> bool:
    """Whether ``import theano`` currently resolves to symgraph in this process."""
    return _FINDER in sys.meta_path


install()
