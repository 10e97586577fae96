"""Cached callees reached by symbol (``symgraph/link/numba/extern.py``) behave like linked calls.

A small callee module and a caller module (the shape of a generated graph module) are
written to a temporary folder; each check runs in a fresh process: the first compiles the
caller, the second loads it from Numba's cache (its symbols come from the ``.links`` file).
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from symgraph.link.numba.cachefiles import write_json

CALLEE = textwrap.dedent("""
    import numba, numpy as np

    @numba.njit(cache=True)
    def scale(a, k):
        if k < 0:
            raise ValueError("scale: k must be >= 0")
        return a * k, a.sum()
""")

CALLER = textwrap.dedent("""
    import numba, numpy as np
    from symgraph.link.numba.extern import LinkTable as _sg_LinkTable
    _sg_links = _sg_LinkTable(__file__)
    from sg_callee import scale as _sgx_scale
    _k_scale = _sg_links.extern(_sgx_scale)

    @numba.njit(cache=True)
    def graph_fn(a, k):
        out, s = _k_scale(a, k)
        out2, _ = _k_scale(out, 2)   # an int literal argument
        return out2, s
""")

RUN = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, sys.argv[1])
    import sg_caller
    a = np.arange(6.0).reshape(2, 3)
    for _ in range(3):   # results are fresh arrays each call (reference counts intact)
        out, s = sg_caller.graph_fn(a, 3)
    assert out.shape == (2, 3) and np.array_equal(out, a * 6) and s == 15.0, (out, s)
    assert sys.getrefcount(out) == 2
    try:
        sg_caller.graph_fn(a, -1)
    except ValueError as e:
        print("raised:", e)
    print("compiled" if sg_caller.graph_fn.stats.cache_misses else "cached")
""")


def _run(folder):
    r = subprocess.run([sys.executable, "-c", RUN, str(folder)], capture_output=True,
                       text=True, timeout=300, env=os.environ.copy())
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    return r.stdout.split("\n")


@pytest.fixture
def modules(tmp_path):
    (tmp_path / "sg_callee.py").write_text(CALLEE)
    (tmp_path / "sg_caller.py").write_text(CALLER)
    return tmp_path


def test_extern_call_cold_then_from_the_cache(modules):
    first = _run(modules)
    assert first[0] == "raised: scale: k must be >= 0" and first[1] == "compiled"
    assert (modules / "sg_caller.links").exists()
    second = _run(modules)
    assert second[0] == "raised: scale: k must be >= 0" and second[1] == "cached"


def test_the_callee_is_not_linked_into_the_caller(modules):
    """The point of the module: the caller's final LLVM module only declares the callee."""
    code = textwrap.dedent("""
        import sys, numpy as np
        sys.path.insert(0, sys.argv[1])
        import sg_caller
        sg_caller.graph_fn(np.ones(2), 1)
        lib = sg_caller.graph_fn.overloads[sg_caller.graph_fn.signatures[0]].library
        ir = str(lib._final_module)
        defined = [l for l in ir.splitlines() if l.startswith("define") and "scale" in l]
        declared = [l for l in ir.splitlines() if l.startswith("declare") and "sgk." in l]
        print(len(defined), len(declared))
    """)
    r = subprocess.run([sys.executable, "-c", code, str(modules)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    # both call sites share one signature (the literal 2 is typed as a plain int64)
    assert r.stdout.split() == ["0", "1"]


def test_an_unreadable_link_table_is_rebuilt(modules):
    """The caller's cached machine code is not loaded without the symbols it calls: the
    file is reported, the caller compiled afresh and the file rewritten as JSON."""
    _run(modules)
    links = modules / "sg_caller.links"
    assert json.loads(links.read_text())["data"][0][0] == "sg_callee:scale"
    links.write_bytes(b"not JSON")
    r = subprocess.run([sys.executable, "-W", "always", "-c", RUN, str(modules)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "sg_caller.links is unreadable" in r.stderr and r.stdout.split()[-1] == "compiled"
    assert json.loads(links.read_text())["data"][0][0] == "sg_callee:scale"



def test_a_callee_compiled_afresh_still_serves_the_cached_caller(modules, numba_cache_dir):
    """A callee whose cache is dropped (the kernel sources changed since it was written:
    ``extern._drop_stale_cache``) is compiled again under the same symbol, so the caller
    loaded from its cache still finds it (Numba's mangled names change per process, and
    a caller bound to the old one crashed here)."""
    _run(modules)
    markers = list(numba_cache_dir(modules / "sg_callee.py").glob("sg_callee.scale.sgdeps"))
    assert len(markers) == 1
    write_json(str(markers[0]), {"sources": "an older version"})
    second = _run(modules)
    assert second[0] == "raised: scale: k must be >= 0" and second[1] == "cached"
    assert "an older version" not in markers[0].read_text()


STALE_IN_MEMORY = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, sys.argv[1])
    import sg_callee
    from symgraph.link.numba import extern
    a = np.arange(3.0)
    sg_callee.scale(a, 2)          # a direct call loads it from the cache first
    old = sg_callee.scale.overloads[next(iter(sg_callee.scale.overloads))]
    extern._native_symbol(sg_callee.scale, next(iter(sg_callee.scale.overloads)))
    new = sg_callee.scale.overloads[next(iter(sg_callee.scale.overloads))]
    print("recompiled" if new is not old else "kept", sg_callee.scale.stats.cache_misses)
""")


def test_a_stale_callee_already_loaded_is_compiled_afresh(modules, numba_cache_dir):
    """When the stale-cache check flushes a callee that this process already loaded from
    that cache (a direct call came first), the loaded code is compiled again as well."""
    _run(modules)
    (marker,) = numba_cache_dir(modules / "sg_callee.py").glob("sg_callee.scale.sgdeps")

    def run():
        r = subprocess.run([sys.executable, "-c", STALE_IN_MEMORY, str(modules)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stdout.split()

    assert run()[0] == "kept"            # up to date: the loaded code stays
    write_json(str(marker), {"sources": "an older version"})
    assert run()[0] == "recompiled"
    assert "an older version" not in marker.read_text()
    assert run()[0] == "kept"            # and the fresh code was cached


SCALAR_SCAN = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("always")
    import numpy as np
    import symgraph as theano, symgraph.tensor as T
    s = T.dvector("s")
    # scalar outputs only, no state: scan's loop never calls its copy_into extern
    second, _ = theano.scan(lambda a, b, c: a - 2 * b + c,
                            sequences=dict(input=s, taps=[-1, 0, 1]))
    f = theano.function([s], second, mode="numba")
    print(f(np.array([1., 2., 4., 8., 16.])).tolist())
""")


def _compiled_then_cached(script, cache_dir):
    """``script`` run in two new processes on one cache directory (compiled glue): the
    first compiles, the second loads. Their completed processes."""
    env = dict(os.environ, SYMGRAPH_FLAGS=f"cache_dir={cache_dir},numba_glue=compiled")
    outs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        outs.append(r)
    return outs


def test_a_module_whose_externs_go_unused_loads_from_the_cache(tmp_path):
    """A generator may offer an extern its code never calls; the module is then written
    without a link table. A table that records nothing writes no file, and a module with
    a table but no file read as damaged in every later process: its machine code was
    dropped and compiled again each time, with a warning."""
    outs = _compiled_then_cached(SCALAR_SCAN, tmp_path)
    assert outs[0].stdout.split("\n")[0] == "[1.0, 2.0, 4.0]"
    assert outs[1].stdout == outs[0].stdout
    assert "CacheFileWarning" not in outs[1].stderr, outs[1].stderr[-2000:]
    modules = list(tmp_path.rglob("sg_*.py"))
    assert modules
    for m in modules:
        if "_sg_LinkTable(" in m.read_text():
            assert m.with_suffix(".links").exists(), m.name


def test_kernel_source_declares_only_the_externs_its_code_names():
    from symgraph.link.numba.dispatch import NumbaCode
    from symgraph.link.numba.linker import kernel_source

    used = ("_sg_copy_into", "symgraph.link.numba.helpers:copy_into")
    unused = ("_sg_contig", "symgraph.link.numba.helpers:ascontiguousarray")
    src = "def kernel(a, b):\n    _sg_copy_into(a, b)\n    return a\n"
    text = kernel_source(NumbaCode(src, externs=(used, unused)), "@numba.njit(cache=True)")
    assert "_sg_copy_into = _sg_links.extern(" in text
    assert "_sg_contig" not in text
    text = kernel_source(NumbaCode("def kernel(a):\n    return a\n", externs=(unused,)),
                         "@numba.njit(cache=True)")
    assert "LinkTable" not in text


INNER_GRAPHS = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("always")
    import numpy as np
    import symgraph as theano, symgraph.tensor as T
    from symgraph.ifelse import ifelse
    s, x = T.dmatrix("s"), T.dvector("x")
    # reshape((3, 1)): an array constant (the target shape) that stays in the inner graph
    acc, _ = theano.scan(lambda v, a: a * 2 + v.reshape((3, 1)).sum(axis=1), sequences=s,
                         outputs_info=T.zeros_like(x))
    pick = ifelse(T.gt(x.sum(), 0), x.reshape((3, 1)).sum(axis=1) * 3, x - 1)
    f = theano.function([s, x], [acc, pick], mode="numba")
    sv = np.arange(12.).reshape(4, 3)
    for xv in (np.ones(3), -np.ones(3)):
        print([o.tolist() for o in f(sv, xv)])
""")


def test_inner_graphs_are_called_by_symbol_with_their_constants(tmp_path):
    """Scan's loop and a lazy ifelse call their inner graph's ``graph_fn`` by symbol,
    passing the inner graph's array constants (globals of the inner module): compiled in
    a first process, loaded from the cache in a second with the same results and no
    rebuild."""
    outs = _compiled_then_cached(INNER_GRAPHS, tmp_path)
    acc, rows = np.zeros(3), []
    for v in np.arange(12.).reshape(4, 3):
        acc = acc * 2 + v
        rows.append(acc.tolist())
    assert outs[0].stdout.strip().split("\n") == [str([rows, [3.0, 3.0, 3.0]]),
                                                  str([rows, [-2.0, -2.0, -2.0]])]
    assert outs[1].stdout == outs[0].stdout
    assert "CacheFileWarning" not in outs[1].stderr, outs[1].stderr[-2000:]
    texts = [m.read_text() for m in tmp_path.rglob("sg_*.py")]
    # kernel modules (the graph's own module holds their sources as strings)
    kernels = [t for t in texts if "_sg_load_kernel(" not in t]
    callers = [t for t in kernels if "import graph_fn as _sgx" in t]
    assert len(callers) == 2, "the scan loop and the ifelse each call an inner graph_fn"
    for text in callers:
        assert "import step_fn" not in text
        assert "import _sg_K0 as" in text   # the inner graph's constant, passed along
    assert sum("_sg_n_consts = 1" in t for t in texts) == 2
