"""Calls between compiled functions through a registered symbol instead of linking.

Why: when Numba code calls another ``@njit`` function, Numba links the callee's whole
LLVM module (and, recursively, everything the callee links) into the caller's, then
optimizes and generates machine code for all of it again. A chain of small wrappers over
one large kernel pays for the kernel once per level: the first matrix product of a new
installation compiled ``_product`` (the parallel GEMM) seven times over, through
``dot``, ``_dot_any``, ``try_small_gemm``, ``small_gemm`` and ``_dispatch``
(docs/benchmarks.md). Called by symbol, each function is optimized and compiled once
per argument types, and cached on its own.

How: :func:`by_symbol` wraps a dispatcher in an intrinsic. At typing time it compiles
(or loads) the callee for the argument types, registers the callee's native entry point
with LLVM under a stable name (:func:`register_native`: ``sgk.`` + a hash of the
callee's path, argument and return types), and the caller's code only declares that
name and calls it with Numba's calling convention (``llvm.call_native``: status,
exceptions and reference counts as in a linked call). The caller's compiled library
records a :class:`Reload` in Numba's ``reload_init`` list, which Numba pickles into the
caller's cache entry and runs before it loads the caller's machine code in a later
process: the callee is then loaded and registered first, so the name resolves.

Freshness: a callee's machine code is no longer copied into its callers, so a caller
never runs an old copy of it. Before each registration a *prepare* hook runs; the link
layer installs one (:func:`set_prepare`) that empties a callee's Numba cache when
symgraph's sources changed since it was written (``link/numba/extern.py``), as for the
callees of generated graphs. Without it (kernels called from Python before any graph),
the callee is compiled with ``dispatcher.compile``. A callee whose return type changed
since a caller was cached (the caller would call it with the wrong convention) raises
:class:`StaleCallee` at that caller's load, before any machine code is loaded;
``dispatch.load_cached_overload`` then empties the caller's cache and it compiles anew.

One rule: **a function that calls by symbol is itself reached only by symbol** (or from
Python), never linked into a caller. Numba reruns a cached function's ``reload_init``
when it loads it, but the loaded library forgets the list, so a new function linking
that library would be cached without the entries, and a later process would load it
before its callees. (Overload implementations that are not disk-cached are compiled
afresh whenever their caller is, and keep the list: they may call by symbol.) As a
safety net, ``lazylib`` refuses to load machine code that calls an unregistered
``sgk.`` symbol, which LLVM would otherwise answer by aborting the process.

Private uses: the calling convention (``llvm.call_native``), the native entry point
(``dispatch.native_entry``), the active code library's ``_reload_init``. Public path (a
Numba version symgraph was not checked against, or ``SYMGRAPH_NUMBA_FALLBACK=1``):
:func:`by_symbol` returns the dispatcher itself and Numba links the callee (slower
compiles, the same machine code).
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import threading

__all__ = ["by_symbol", "caller_cache", "register_native", "set_prepare", "Reload", "StaleCallee",
           "unregistered", "symbol_intrinsic", "fixed_arity_intrinsic", "PREFIX"]

#: the prefix of every symbol registered here
PREFIX = "sgk."

_lock = threading.RLock()
_registered: dict = {}
_prepare = None


class StaleCallee(RuntimeError):
    """Cached machine code calls a callee whose return type changed since it was cached."""


def caller_cache() -> bool:
    """The ``cache=`` flag for a function that calls by symbol: its machine code calls
    registered symbols, so it is disk-cached only on the private path. On the public path
    (``by_symbol`` returns the dispatcher) it compiles in every process, as it must never
    load an entry cached by the private path and then be linked into a graph (its
    ``Reload`` list would be lost and the graph's cached code would call an unregistered
    symbol)."""
    from symgraph.numba_compat import numba_internals

    return numba_internals()


def set_prepare(hook) -> None:
    """Install ``hook(dispatcher, argtys)``, run before a callee is registered: it must
    leave ``dispatcher`` holding an overload for ``argtys`` (the link layer's checks the
    callee's cache against symgraph's sources first). None restores the default."""
    global _prepare
    _prepare = hook


def _path(dispatcher) -> str:
    func = dispatcher.py_func
    return f"{func.__module__}:{func.__qualname__}"


def symbol_name(path: str, argtys: tuple, return_type) -> str:
    """The stable symbol of the callee at ``path`` (``module:qualname``) for ``argtys``.
    Not Numba's mangled name: that carries a per-process counter, so a callee compiled
    afresh would get a name its cached callers never heard of."""
    key = f"{path}{tuple(argtys)}->{return_type}"
    return PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]


def unregistered(names) -> list:
    """The by-symbol names among ``names`` that no :func:`register_native` registered in
    this process (cached code calling them must not be loaded: LLVM aborts on them)."""
    with _lock:
        return sorted(n for n in names if n.startswith(PREFIX) and n not in _registered)


def register_native(dispatcher, argtys: tuple, prepared: bool = False) -> tuple:
    """Make ``dispatcher`` hold an overload for ``argtys`` (through the prepare hook,
    unless the caller ran it: ``prepared``), register its native entry point under
    :func:`symbol_name`; ``(name, return type)``."""
    from llvmlite import binding as llvm

    from symgraph.numba_compat.dispatch import native_entry

    argtys = tuple(argtys)
    hook = _prepare
    if hook is not None and not prepared:
        hook(dispatcher, argtys)
    elif argtys not in dispatcher.overloads:
        dispatcher.compile(argtys)
    addr, return_type = native_entry(dispatcher, argtys)
    name = symbol_name(_path(dispatcher), argtys, return_type)
    with _lock:
        if _registered.get(name) != addr:
            llvm.add_symbol(name, addr)
            _registered[name] = addr
    return name, return_type


class Reload:
    """Registers one callee's symbol before a cached caller's machine code loads (an
    entry of Numba's ``reload_init``: pickled by reference to this class, with the
    callee's path, argument types and the symbol the caller's code calls)."""

    __slots__ = ("path", "argtys", "name")

    def __init__(self, path: str, argtys: tuple, name: str):
        self.path, self.argtys, self.name = path, tuple(argtys), name

    def __reduce__(self):
        return (Reload, (self.path, self.argtys, self.name))

    def __eq__(self, other):
        return isinstance(other, Reload) and (self.path, self.argtys, self.name) == (
            other.path, other.argtys, other.name)

    def __hash__(self):
        return hash((self.path, self.argtys, self.name))

    def __call__(self):
        module, qualname = self.path.split(":")
        dispatcher = importlib.import_module(module)
        for part in qualname.split("."):
            dispatcher = getattr(dispatcher, part)
        name, _ = register_native(dispatcher, self.argtys)
        if name != self.name:
            raise StaleCallee(
                f"cached machine code calls {self.path}{self.argtys}, whose return type "
                f"changed since it was compiled; that code is compiled afresh")


def symbol_intrinsic(dispatcher, register, prefix: str, record=None, convert=None,
                     params=None):
    """An intrinsic with ``dispatcher``'s parameters whose call is a native call of the
    symbol ``register(argtys)`` returns as ``(name, return type)`` (``argtys``: the
    argument types without literals), with Numba's calling convention
    (``llvm.call_native``). ``record(context, argtys, name)``, if given, runs at each
    lowering of a call (``by_symbol`` records its ``Reload``). ``prefix`` names the
    intrinsic. Shared by :func:`by_symbol` and the link tables of generated graphs.

    ``convert(args)``, if given, maps the intrinsic's argument types to the callee's:
    ``(argtys, consts)``, each argument cast to its entry of ``argtys`` (Numba's casts: a
    scalar to another dtype, an array to layout 'A'), the remaining entries passed the
    constants ``consts``; None refuses the types (a typing error). The intrinsic then has
    the parameters ``params``."""
    from numba import types

    from symgraph.numba_compat.llvm import call_native

    def typer(typingctx, args):
        if convert is None:
            argtys, consts = tuple(types.unliteral(a) for a in args), ()
        else:
            converted = convert(tuple(types.unliteral(a) for a in args))
            if converted is None:
                return None
            argtys, consts = tuple(converted[0]), tuple(converted[1])
        name, return_type = register(argtys)
        sig = return_type(*args)

        def codegen(context, builder, signature, llargs):
            if record is not None:
                record(context, argtys, name)
            vals = [context.cast(builder, v, t, u)
                    for v, t, u in zip(llargs, signature.args, argtys)]
            vals += [context.get_constant(t, c) for t, c in zip(argtys[len(vals):], consts)]
            return call_native(context, builder, name, signature.return_type, argtys, vals)

        return sig, codegen

    if params is None:
        params = list(inspect.signature(dispatcher.py_func).parameters)
    return fixed_arity_intrinsic(f"{prefix}_{dispatcher.py_func.__name__}", list(params),
                                 typer)


def fixed_arity_intrinsic(name: str, params: list, typer):
    """An intrinsic ``name(*params)`` whose typing is ``typer(typingctx, args)``, ``args``
    the tuple of the parameters' types. Why generated: an intrinsic needs a fixed arity
    (Numba's lowering rejects ``*args`` here). Shared by :func:`symbol_intrinsic` and
    ``launch.task_launcher``."""
    from numba.extending import intrinsic

    ps = ", ".join(params)
    ns = {"typer": typer}
    tup = f"({ps}{',' if params else ''})"
    exec(f"def {name}(typingctx, {ps}):\n    return typer(typingctx, {tup})\n", ns)
    return intrinsic(ns[name])


def by_symbol(dispatcher, convert=None, params=None, public=None):
    """An intrinsic with ``dispatcher``'s parameters that calls it through its registered
    symbol (see the module docstring); ``dispatcher`` itself on the public path.

    With ``convert`` (see :func:`symbol_intrinsic`) the intrinsic has the parameters
    ``params`` and converts its arguments to the callee's types in the caller's code: an
    entry point whose callers pass many layouts and scalar types needs no wrapper compiled
    per caller and signature to make the conversions. The public path then returns
    ``public``, which does the same in Numba code."""
    from symgraph.numba_compat import numba_internals

    if not numba_internals():
        return dispatcher if convert is None else public
    path = _path(dispatcher)

    def record(context, argtys, name):
        # private: the active code library's reload list (see the module docstring)
        context.active_code_library._reload_init.add(Reload(path, argtys, name))

    return symbol_intrinsic(dispatcher, lambda argtys: register_native(dispatcher, argtys),
                            "by_symbol", record, convert, params)
