"""Calls by symbol (``symgraph.numba_compat.bysymbol``): the callee's code is not linked
into the caller, the call behaves as a linked one, and cached callers load in a new
process (their callees registered first) or are compiled afresh, never crash it."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

from symgraph.numba_compat import numba_internals
from symgraph.numba_compat.bysymbol import PREFIX, by_symbol, unregistered
from symgraph.numba_compat.lazylib import elf_symbols

pytestmark = pytest.mark.skipif(not numba_internals(),
                                reason="calls by symbol are Numba-internal; the public "
                                       "path links the callee (tested elsewhere)")


@njit
def _callee(a, k):
    if k < 0:
        raise ValueError("negative k")
    s = 0.0
    for v in a:
        s += v * k
    return s


_callee_by_symbol = by_symbol(_callee)


@njit
def _caller(a, k):
    return _callee_by_symbol(a, k) + 1.0


def test_results_and_no_linked_callee_code():
    a = np.arange(5.0)
    assert _caller(a, 3) == 3 * a.sum() + 1.0
    ir = _caller.inspect_llvm(_caller.signatures[0])
    declared = [ln for ln in ir.splitlines() if ln.startswith("declare") and PREFIX in ln]
    assert len(declared) == 1
    # the callee's loop is not in the caller's module: no definition of it
    defined = [ln for ln in ir.splitlines() if ln.startswith("define") and "_callee" in ln]
    assert defined == []


def test_exceptions_propagate_through_the_call():
    with pytest.raises(ValueError, match="negative k"):
        _caller(np.ones(3), -1)


def test_the_symbol_depends_on_argument_types():
    _caller(np.ones(3, np.float32), 2)
    _caller(np.ones(3), 2.5)
    assert len(_callee.signatures) >= 2
    assert _caller(np.ones(3, np.float32), 2) == 7.0
    called = set()
    for sig in _caller.signatures:
        ir = _caller.inspect_llvm(sig)
        called |= {ln.split("@")[1].split("(")[0].strip('"') for ln in ir.splitlines()
                   if ln.startswith("declare") and PREFIX in ln}
    assert len(called) == len(_caller.signatures)   # one symbol per callee signature
    assert unregistered([PREFIX + "0" * 32, "memcpy"]) == [PREFIX + "0" * 32]


MODULES = {
    "bs_callee.py": """
        from numba import njit

        @njit(cache=True)
        def callee(a):
            s = 0.0
            for v in a:
                s += v
            return {ret}
    """,
    "bs_caller.py": """
        from numba import njit
        from symgraph.numba_compat.bysymbol import by_symbol
        from bs_callee import callee

        callee_by_symbol = by_symbol(callee)

        @njit(cache=True)
        def caller(a):
            return callee_by_symbol(a) * 2
    """,
}

RUN = textwrap.dedent("""
    import sys, numpy as np
    {setup}
    import bs_caller
    print(float(bs_caller.caller(np.arange(4.0))), sum(bs_caller.caller.stats.cache_hits.values()))
""")


def _write(folder, ret="s"):
    for name, src in MODULES.items():
        (folder / name).write_text(textwrap.dedent(src.format(ret=ret)))


def _run(folder, setup=""):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(folder / "nb"), PYTHONPATH=str(folder))
    r = subprocess.run([sys.executable, "-c", RUN.format(setup=setup)], capture_output=True,
                       text=True, env=env, timeout=300, cwd=folder)
    assert r.returncode == 0, r.stderr[-3000:]
    value, hits = r.stdout.split()[-2:]
    return float(value), int(hits)


def test_a_cached_caller_loads_its_callee_first(tmp_path):
    """Numba reruns the caller's ``Reload`` entries before loading its machine code: the
    callee is registered, the symbol resolves (without it LLVM aborts the process)."""
    _write(tmp_path)
    assert _run(tmp_path) == (12.0, 0)     # compiled
    assert _run(tmp_path) == (12.0, 1)     # loaded from the cache


def test_a_callee_whose_return_type_changed_is_not_called_by_stale_code(tmp_path):
    """The callee's file changed its return type (Numba recompiles it: its file changed),
    the caller's file did not (Numba would load its cached code, compiled for the old
    return type). Loaded through symgraph's loader it is compiled afresh."""
    _write(tmp_path)
    assert _run(tmp_path) == (12.0, 0)
    _write(tmp_path, ret="int(s) + 1")   # float64 -> int64
    os.utime(tmp_path / "bs_callee.py", (1, 2_000_000_000))   # a new stamp for Numba
    setup = textwrap.dedent("""
        from numba import types
        from symgraph.numba_compat.dispatch import compiler_lock, load_cached_overload
        import bs_caller
        sig = (types.float64[::1],)
        with compiler_lock():
            loaded = load_cached_overload(bs_caller.caller, sig)
        assert not loaded, "stale machine code was loaded"
    """)
    assert _run(tmp_path, setup) == (14.0, 0)


def test_unregistered_symbols_are_refused_before_llvm_sees_them():
    """``lazylib`` reads the symbols an object calls; an ``sgk.`` one nothing registered
    makes the load raise ``StaleCallee`` (LLVM would abort the process on it)."""
    from llvmlite import binding as llvm
    from numba.core.registry import cpu_target

    from symgraph.numba_compat.bysymbol import StaleCallee
    from symgraph.numba_compat.lazylib import _lazy_class

    name = PREFIX + "f" * 32
    mod = llvm.parse_assembly(f"""
        declare i64 @"{name}"(i64)
        define i64 @g(i64 %x) {{
          %r = call i64 @"{name}"(i64 %x)
          ret i64 %r
        }}""")
    obj = llvm.Target.from_default_triple().create_target_machine().emit_object(mod)
    defined, undefined = elf_symbols(obj)
    assert "g" in defined and name in undefined
    assert unregistered(undefined) == [name]
    codegen = cpu_target.target_context.codegen()
    with pytest.raises(StaleCallee, match=name):
        _lazy_class(codegen._library_class)._unserialize(codegen, ("g", "object", (obj, b"")))
