"""Products the Python tier runs by calling their kernel's callee directly
(``link/numba/tier_extern.py``): the compiled glue's bytes, no wrapper compiled, and the
wrapper's own errors and fallbacks."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.link.numba.tier_extern import ExternNode
from symgraph.numba_compat import numba_internals
from symgraph.testing import assert_same_bits


def _extern_nodes(f):
    tier = f.executable.graph_fn.tier
    return [d for d in tier._inline.values() if isinstance(d, ExternNode)]


def _training(dtype, rng_seed=0):
    """Two dense layers (``Dot``s with a transposed operand, ``Gemm`` updates in place
    and not), a vector product, five steps."""
    rng = np.random.default_rng(rng_seed)
    x = T.matrix("x", dtype=dtype)
    v = T.vector("v", dtype=dtype)
    W1 = symgraph.shared(rng.standard_normal((6, 5)).astype(dtype) * 0.4, name="W1")
    W2 = symgraph.shared(rng.standard_normal((5, 3)).astype(dtype) * 0.4, name="W2")
    h = T.tanh(T.dot(x, W1))
    out = T.dot(h, W2)
    cost = T.sum(out ** 2)
    g1, g2 = T.grad(cost, [W1, W2])
    f = symgraph.function([x, v], [cost, T.dot(v, W1), T.dot(W1, W2)[:, 0]],
                          updates=[(W1, W1 - 0.1 * g1), (W2, W2 - 0.1 * g2)],
                          on_unused_input="ignore")
    xs = rng.standard_normal((4, 6)).astype(dtype)
    vs = rng.standard_normal(6).astype(dtype)
    return f, [W1, W2], lambda k: (xs * (k + 1), vs)


def _run(dtype, mode, glue, steps=5):
    glue(mode)
    f, params, args = _training(dtype)
    if mode == "tiered":
        f.executable.hold_python_tier()
    outs = [f(*args(k)) for k in range(steps)]
    return f, (outs, [p.get_value() for p in params])


@pytest.mark.skipif(not numba_internals(), reason="the public path links callees into "
                    "their wrappers: the tier runs the wrappers")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_products_call_their_callee_with_the_glues_bits(dtype, glue, wrapper_calls):
    """Dot and Gemm nodes on the tier call ``dot``/``gemm_to``/``gemm_inplace`` for the
    wrapper's argument types (once compiled: the tier does not compile a callee itself),
    with no wrapper compiled: five training steps give the compiled glue's bytes."""
    # the compiled glue first: its wrappers compile the callees, which the tier then
    # finds (a callee not compiled yet is compiled through its wrapper, as before)
    _, compiled = _run(dtype, "compiled", glue)
    f, tier = _run(dtype, "tiered", glue)
    kinds = {d.prog["kind"] for d in _extern_nodes(f)}
    assert {"dot", "gemm"} <= kinds, kinds
    assert not wrapper_calls
    assert_same_bits(tier, compiled)


@pytest.mark.skipif(not numba_internals(), reason="the public path runs the wrappers")
def test_misaligned_shapes_raise_the_wrappers_error(glue, wrapper_calls, same_error):
    """Shapes the wrapper refuses run the wrapper, which raises its error, as the
    compiled glue does."""
    a, b = T.fmatrix("a"), T.fmatrix("b")
    out = T.dot(a, b)
    glue("tiered")
    f = symgraph.function([a, b], out)
    f.executable.hold_python_tier()
    x, y = np.ones((3, 4), "float32"), np.ones((5, 2), "float32")
    same_error(f, out, [a, b], (x, y))
    assert wrapper_calls


def test_operands_typed_any_layout_run_the_wrapper(glue, wrapper_calls):
    """A Dot operand typed 'A' (a stepped slice) may be copied by the wrapper
    (``blas_ready``), whose callee then gets another type: the wrapper runs."""
    a, b = T.fmatrix("a"), T.fmatrix("b")
    out = T.dot(a[:, ::2], b)
    glue("tiered")
    f = symgraph.function([a, b], out)
    f.executable.hold_python_tier()
    x, y = np.arange(24, dtype="float32").reshape(3, 8), np.ones((4, 2), "float32")
    got = f(x, y)
    assert wrapper_calls
    np.testing.assert_array_equal(got, x[:, ::2] @ y)


@pytest.mark.skipif(not numba_internals(), reason="the public path runs the wrappers")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sums_call_sum_lmr_with_the_glues_bits(dtype, glue, wrapper_calls):
    """Float sums over leading and/or trailing axes (all of them, a matrix's rows, a conv
    bias gradient's (0, 2, 3), a transposed and so non-contiguous input, float32 summed
    in float64) call ``helpers.sum_lmr`` directly on the tier: the compiled glue's bytes,
    no wrapper compiled."""
    x = T.matrix("x", dtype=dtype)
    t = T.tensor4("t", dtype=dtype)
    outs = [x.sum(), x.sum(axis=0), x.sum(axis=1), x.T.sum(axis=0), t.sum(axis=(0, 2, 3)),
            t.sum(axis=(2, 3)), T.sum(x, dtype="float64") if dtype == "float32" else x.sum()]
    rng = np.random.default_rng(5)
    args = (rng.standard_normal((7, 33)).astype(dtype) * 1e3,
            rng.standard_normal((3, 4, 5, 6)).astype(dtype))
    glue("compiled")   # first: its wrappers compile the callees the tier then finds
    want = symgraph.function([x, t], outs)(*args)
    glue("tiered")
    f = symgraph.function([x, t], outs)
    f.executable.hold_python_tier()
    got = f(*args)
    sums = [d for d in _extern_nodes(f) if d.prog["kind"] == "sum"]
    assert len(sums) >= 5 and not wrapper_calls
    assert_same_bits(got, want)


@pytest.mark.skipif(not numba_internals(), reason="the public path runs the wrappers")
def test_callees_are_checked_against_the_sources_before_they_load(glue, monkeypatch):
    """The tier loads a callee from Numba's disk cache outside any link table: it first
    runs the link tables' check (``extern._drop_stale_cache``: that cache is emptied when
    symgraph's sources changed since it was written), so no machine code older than the
    sources runs."""
    from symgraph.link.numba import extern
    from symgraph.link.numba.impl import dot

    checked = []
    real = extern._drop_stale_cache

    def spy(dispatcher):
        checked.append(dispatcher)
        return real(dispatcher)

    monkeypatch.setattr(extern, "_drop_stale_cache", spy)
    a, b = T.dmatrix("a"), T.dmatrix("b")
    glue("tiered")
    f = symgraph.function([a, b], T.dot(a, b))
    f.executable.hold_python_tier()
    f(np.ones((2, 3)), np.ones((3, 4)))
    assert dot.dot in checked


@pytest.mark.skipif(not numba_internals(), reason="the public path runs the wrappers")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_draws_call_their_loop_with_the_glues_bits(dtype, glue, wrapper_calls,
                                                         same_error):
    """Uniform, normal and binomial draws (a dropout mask) of sizes given as a shape, a
    scalar and a constant, and a 0-d draw: over three calls (the stream's state moves
    on) the tier calls the draws' loops with no wrapper compiled and gives the compiled
    glue's bytes; a negative size raises the wrapper's error."""
    from symgraph.tensor.shared_randomstreams import RandomStreams

    def make():
        x, n = T.matrix("x", dtype=dtype), T.lscalar("n")
        srng = RandomStreams(7)
        outs = [x * srng.binomial(x.shape, p=0.8, dtype=dtype),
                srng.normal((n, 3), dtype=dtype), srng.uniform((2,), dtype=dtype),
                srng.uniform((), dtype=dtype)]
        return x, n, outs

    args = (np.ones((4, 5), dtype), 6)
    results = []
    for mode in ("compiled", "tiered"):
        glue(mode)
        x, n, outs = make()
        f = symgraph.function([x, n], outs)
        if mode == "tiered":
            f.executable.hold_python_tier()
        results.append([f(*args) for _ in range(3)])
    assert {d.prog["kind"] for d in _extern_nodes(f)} >= {"random"}
    assert not wrapper_calls
    assert_same_bits(results[1], results[0])
    same_error(f, outs, [x, n], (args[0], -1))


def test_a_callee_not_compiled_yet_leaves_the_kernel_to_the_plan(glue, monkeypatch):
    """A callee with no compiled overload for its types (an empty cache): the node does
    not compile its wrapper itself when first called; it tells the plan, which compiles
    or loads the kernel as any other (on the worker too: a first run's heavy kernels,
    conv and pooling, went one after another through this process)."""
    asked = []
    monkeypatch.setattr(ExternNode, "_overload", lambda self, name, argtys: None)
    monkeypatch.setattr(ExternNode, "_compiled",
                        lambda self, argtys: asked.append(argtys))
    a, b = T.dmatrix("a"), T.dmatrix("b")
    out = T.dot(a, b).sum(axis=0)
    glue("tiered")
    f = symgraph.function([a, b], out)
    f.executable.hold_python_tier()
    x, y = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(f(x, y), (x @ y).sum(axis=0))
    nodes = _extern_nodes(f)
    assert nodes and not asked
    assert all(d._probed for d in nodes)   # each was asked, and said its kernel is needed
    assert all(d.runs_without_kernel(k) is False for d in nodes for k in d._probed)


_DRAW = textwrap.dedent("""
    import sys
    import numpy as np, symgraph, symgraph.tensor as T
    from symgraph.tensor.shared_randomstreams import RandomStreams
    from symgraph.link.numba.tier_extern import ExternNode

    needed = []
    runs, compiled = ExternNode.runs_without_kernel, ExternNode._compiled
    def runs_spy(self, argtys):
        ok = runs(self, argtys)
        if not ok:
            needed.append(argtys)
        return ok
    def compiled_spy(self, argtys):
        needed.append(argtys)
        return compiled(self, argtys)
    ExternNode.runs_without_kernel, ExternNode._compiled = runs_spy, compiled_spy
    x = T.dvector("x")
    f = symgraph.function([x], x + RandomStreams(3).uniform((4,)))
    if sys.argv[1] == "tiered":
        f.executable.hold_python_tier()
    f(np.zeros(4))
    print(len(needed))
""")


@pytest.mark.skipif(not numba_internals(), reason="the public path runs the wrappers")
def test_a_loop_compiled_for_generated_code_loads_on_the_tier_in_a_new_process(tmp_path):
    """A process compiles a random draw's kernel, which imports its loop by name (Numba
    compiles and caches the loop with it); in the next process the tier loads that loop
    from the cache and compiles no wrapper. The loop's cache had no marker when no
    process had checked it, and the tier, which checks it before loading, emptied it as
    a cache nobody vouched for (a CI run's failure): generated modules now check the
    library functions they import (``extern.check_module_stale``)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))

    def run(glue):
        env["SYMGRAPH_FLAGS"] = f"cache_dir={tmp_path / 'c'},numba_glue={glue}"
        r = subprocess.run([sys.executable, "-c", _DRAW, glue], capture_output=True,
                           text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stdout.split()

    run("compiled")
    assert run("tiered") == ["0"]
