"""The Python tier (``link/numba/tiered.py``): a new graph runs at once, its kernels
called from Python, while its glue compiles in a background process; results are the
same bits on both tiers, so when the switch happens never changes a result."""
from __future__ import annotations

import gc
import time
import warnings

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.link.numba import glue_worker
from symgraph.tensor.elemwise import Composite, Elemwise
from symgraph.tensor.nnet import conv, sigmoid, softmax
from symgraph.tensor.signal import pool
from symgraph.testing import assert_same_bits


def _mlp(rng, dtype, n_in=12, n_hid=7, n_out=3, depth=2):
    """An MLP training step with L2, momentum-free SGD; views (transpose, dimshuffle,
    reshape, slicing by a scalar index), scalar inputs and several outputs."""
    x = T.matrix("x", dtype=dtype)
    y = T.ivector("y")
    lr = T.scalar("lr", dtype=dtype)
    i = T.lscalar("i")
    params, h = [], x[i * 4:(i + 1) * 4]
    sizes = [n_in] + [n_hid] * depth + [n_out]
    for a, b in zip(sizes[:-1], sizes[1:]):
        W = symgraph.shared(rng.standard_normal((a, b)).astype(dtype) * 0.3, name="W")
        c = symgraph.shared(np.zeros(b, dtype), name="b")
        params += [W, c]
        h = T.tanh(T.dot(h, W) + c) if b != n_out else softmax(T.dot(h, W) + c)
    yy = y[i * 4:(i + 1) * 4]
    cost = -T.mean(T.log(h)[T.arange(yy.shape[0]), yy]) + 1e-3 * sum(
        T.sum(p ** 2) for p in params[::2])
    grads = T.grad(cost, params)
    f = symgraph.function([x, y, lr, i], [cost, h.reshape((-1,)), h.T.sum(axis=1)],
                          updates=[(p, p - lr * g) for p, g in zip(params, grads)])
    data = (rng.standard_normal((16, n_in)).astype(dtype),
            rng.integers(0, n_out, 16).astype("int32"))
    lr_value = np.dtype(dtype).type(0.1)
    return f, params, lambda k: (data[0], data[1], lr_value, k % 4)


def _convnet(rng, dtype):
    x = T.tensor4("x", dtype=dtype)
    W = symgraph.shared(rng.standard_normal((3, 1, 3, 3)).astype(dtype) * 0.3, name="Wc")
    V = symgraph.shared(rng.standard_normal((12, 2)).astype(dtype) * 0.3, name="V")
    h = pool.pool_2d(T.maximum(conv.conv2d(x, W), 0), (2, 2), ignore_border=True)
    out = softmax(T.dot(h.flatten(2), V))
    cost = -T.mean(T.log(out[:, 0]))
    gW, gV = T.grad(cost, [W, V])
    f = symgraph.function([x], cost, updates=[(W, W - 0.1 * gW), (V, V - 0.1 * gV)])
    xs = rng.standard_normal((2, 1, 6, 6)).astype(dtype)
    return f, [W, V], lambda k: (xs + k,)


def _rnn(rng, dtype):
    xs = T.tensor3("xs", dtype=dtype)
    Wx = symgraph.shared(rng.standard_normal((3, 4)).astype(dtype) * 0.5, name="Wx")
    Wh = symgraph.shared(rng.standard_normal((4, 4)).astype(dtype) * 0.5, name="Wh")
    h0 = T.zeros((xs.shape[1], 4), dtype=dtype)
    hs, _ = symgraph.scan(lambda x_t, h: T.tanh(T.dot(x_t, Wx) + T.dot(h, Wh)),
                          sequences=xs, outputs_info=h0)
    cost = T.sum(hs[-1] ** 2)
    g = T.grad(cost, [Wx, Wh])
    f = symgraph.function([xs], [cost, hs],
                          updates=[(Wx, Wx - 0.05 * g[0]), (Wh, Wh - 0.05 * g[1])])
    data = rng.standard_normal((5, 2, 3)).astype(dtype)
    return f, [Wx, Wh], lambda k: (data * (1 + 0.1 * k),)


def _scalars(rng, dtype):
    """Fused 0-d expressions, which the Python tier runs one operation at a time
    (``tier_steps.py``): an n-ary sum of reductions (split into a chain), products,
    transcendental functions, a constant, mixed dtypes and wrapping int8 arithmetic."""
    v = T.vector("v", dtype=dtype)
    a = T.scalar("a", dtype=dtype)
    k = T.bscalar("k")
    W = symgraph.shared(rng.standard_normal(4).astype(dtype), name="W")
    terms = [T.sum(v ** 2), T.sum(T.exp(v)), T.max(v), T.sum(W ** 2), T.sum(v * W)]
    loss = (sum(terms) * a + T.tanh(a) * terms[1] * terms[2] * 1.5 - T.log1p(abs(a))
            + sigmoid(terms[0] / (terms[3] + 2.0)) + T.cast(k, dtype))
    g = T.grad(loss, W)
    f = symgraph.function([v, a, k], [loss, k * k + k * 3 + k, (a * 2.5 + 1) / terms[4]],
                          updates=[(W, W - a * 0.01 * g)])
    data = rng.standard_normal(4).astype(dtype)
    return f, [W], lambda j: (data + j, np.dtype(dtype).type(0.3 + j), np.int8(100 + j))


def _intshape(rng, dtype):
    """0-d int64 and bool arithmetic (a shape, an index, values up to 2**62,
    comparisons, selections, casts, ``&``), which the Python tier runs as the kernels'
    Python source on numpy scalars (``tier_steps.python_exact``), feeding a slice bound
    and a float product."""
    v = T.vector("v", dtype=dtype)
    k = T.lscalar("k")
    n = v.shape[0]
    big = (n * k + np.int64(2 ** 60)) * 4
    sel = T.switch(T.lt(n, k), n, k) + abs(k - n) + T.maximum(n, k) - T.minimum(n, -k)
    flag = T.and_(T.gt(n * k, 5), T.neq(n, k))
    out = v[:T.minimum(n, abs(k) + 1)] * T.cast(sel, dtype)
    f = symgraph.function([v, k], [big, sel, flag, out, T.cast(flag, "int64") + n])
    data = rng.standard_normal(6).astype(dtype)
    # no int64 overflow: Numba's integer arithmetic is compiled as if it never overflowed
    # (LLVM's ``nsw``), so an overflowing value is not defined for the compiled glue
    # either (the next test)
    ks = [3, -5, 6, 2 ** 40, -2 ** 40]
    return f, [], lambda j: (data, np.int64(ks[j % len(ks)]))


def _views(rng, dtype):
    """Views of every kind the Python tier runs as numpy (``tier_steps.python_view``):
    slices with and without steps and with symbolic bounds, integer indices (constant,
    negative and symbolic), a transpose, dimshuffles adding and dropping axes and
    filling a new array with a 0-d value, a mean's ``AxesSize``, feeding
    elementwise kernels, a product and reductions; the layouts Numba gives them (C, F,
    any) decide which specializations the later kernels are called for."""
    x = T.tensor3("x", dtype=dtype)
    k = T.lscalar("k")
    W = symgraph.shared(rng.standard_normal((4, 3)).astype(dtype), name="W")
    m = x[1:, ::-1][k]                       # int index after a reversed slice
    a = T.dot(m[:, 1:], W[:3].T)            # (3, 4) @ (3, 4).T: column views
    col = x[:, 0, :].dimshuffle(1, 0)        # drop an axis, transpose
    b = col[::2] * x[-1, :k + 1].sum()       # stepped rows, a symbolic bound
    row = W[0].dimshuffle("x", 0)            # add an axis
    scalar_idx = x.shape[0] - 1
    filled = x.sum().dimshuffle("x", "x") + x.mean(axis=0)   # a 0-d value into an array
    out = [a.sum(axis=0) + row.sum(), b.T, x[scalar_idx, 2:][::-1], W.T[1:, ::2] * 2, filled]
    f = symgraph.function([x, k], out, updates=[(W, W - 0.01 * T.grad(a.sum(), W))])
    data = rng.standard_normal((3, 4, 4)).astype(dtype)
    return f, [W], lambda j: (data + j, np.int64(j % 2))


GRAPHS = {"mlp": _mlp, "convnet": _convnet, "rnn": _rnn, "scalars": _scalars,
          "intshape": _intshape, "views": _views}


def _tier_kernels(f):
    """The Python tier's own kernels of ``f``: {ref: source} of its straight-line nodes
    (a fused 0-d expression's operations under ``(node, step)`` refs), without the ones
    it runs as numpy (``tier_numpy.py``), whose kernels it never compiles."""
    spec = f.executable.module._sg_tier
    return {k: v for k, v in spec["inline"].items() if k not in spec["numpy"]}


def test_fused_scalar_expressions_run_one_operation_at_a_time(glue):
    """A fused 0-d composite is not one kernel on the Python tier but one per operation
    (the compiled glue and the graph keep the fused node), and the n-ary sum is a chain of
    binary additions: an MLP one layer deeper needs no kernel the shallower one lacked."""
    glue("tiered")
    f, _, _ = _scalars(np.random.default_rng(1), "float64")
    assert any(isinstance(n.op, Elemwise) and isinstance(n.op.scalar_op, Composite)
               and n.outputs[0].ndim == 0 for n in f.maker.fgraph.apply_nodes)
    steps = {k: v for k, v in _tier_kernels(f).items() if isinstance(k, tuple)}
    assert steps and all("def kernel(x0, x1):" in src or "def kernel(x0):" in src
                         for src in steps.values() if "_sg_dt_int8" not in src)
    kernels = {}
    for depth in (2, 5):
        f, _, _ = _mlp(np.random.default_rng(0), "float32", depth=depth)
        kernels[depth] = set(_tier_kernels(f).values())
    assert kernels[5] <= kernels[2]


def test_integer_scalar_nodes_run_as_python_on_the_tier(glue):
    """The tier runs 0-d int64/bool arithmetic as Python (``tier["python"]``), compiling
    no kernel for it; float, int8 and division nodes stay kernels."""
    from symgraph.link.numba.tier_steps import python_exact
    from symgraph.link.numba.tiered import PythonNode

    glue("tiered")
    f, _, args = _intshape(np.random.default_rng(0), "float64")
    python = f.executable.module._sg_tier["python"]
    # (besides the integer nodes, a float 0-d value dimshuffled into an array is copied)
    assert len([o for o in python.values() if {d for d, _ in o} <= {"int64", "bool"}]) >= 3
    f.executable.hold_python_tier()
    f(*args(0))
    tier = f.executable.graph_fn.tier
    assert all(isinstance(tier._inline[n], PythonNode) for n in python)
    k, j = T.lscalar("k"), T.lscalar("j")
    b = T.bscalar("b")
    x = T.dscalar("x")
    refused = [b * b + b, k * x, T.true_div(k, j), ~T.lt(k, j), T.cast(k, "int32") + 1]
    accepted = [k * j - 3, T.switch(T.lt(k, j), k, -j), T.cast(T.eq(k, j), "int64") * k,
                k // j + k % j]
    for expr, want in [(e, False) for e in refused] + [(e, True) for e in accepted]:
        g = symgraph.function([k, j, b, x], expr, on_unused_input="ignore")
        nodes = [n for n in g.maker.fgraph.apply_nodes if isinstance(n.op, Elemwise)]
        assert nodes and any(python_exact(n) for n in nodes) == want, expr


def test_an_overflowing_integer_node_runs_its_compiled_kernel_on_the_tier(glue):
    """Where the Python evaluation of an integer node overflows int64, the tier runs the
    node's compiled kernel, as it did before nodes ran as Python: numpy would wrap around,
    while Numba's machine code computes ``abs(k - n)`` as if ``k - n`` could not
    overflow, so no Python value stands for it."""
    glue("tiered")
    k, j = T.lscalar("k"), T.lscalar("j")
    f = symgraph.function([k, j], abs(k - j) * 3 + T.maximum(k, j))
    f.executable.hold_python_tier()
    spec = f.executable.module._sg_tier
    (n,) = spec["python"]
    assert f(5, 9) == 21
    node = f.executable.graph_fn.tier._inline[n]
    assert not node.dispatcher.overloads   # ran as Python, nothing compiled
    lo, hi = np.int64(-2 ** 63), np.int64(6)
    got = f(lo, hi)
    assert node.dispatcher.overloads       # the overflow ran the compiled kernel
    # the kernel called directly, with the node's arguments (the constant 3 is one)
    exe = f.executable
    scope = dict(zip(spec["params"], [lo, hi, *exe.const_args]))
    for line in spec["consts"]:
        exec(line, vars(exe.module), scope)
    ins = next(ins for ref, ins, _ in spec["nodes"] if ref == n)
    assert got == node.dispatcher(*[scope[a] for a in ins])


def test_integer_division_by_zero_runs_the_compiled_kernel_on_the_tier(glue):
    """``//`` and ``%`` run as Python on the tier (floored, as Numba's), except by zero,
    where the compiled kernel gives its own answer and the tier gives that one too."""
    glue("tiered")
    k, j = T.lscalar("k"), T.lscalar("j")
    expr = k // j * 2 + k % j
    f = symgraph.function([k, j], expr)
    f.executable.hold_python_tier()
    (n,) = f.executable.module._sg_tier["python"]
    glue("compiled")
    g = symgraph.function([k, j], expr)
    for a, b in [(7, 2), (-7, 2), (7, -2), (-7, -2), (0, 3), (2 ** 62, -1)]:
        assert f(a, b) == g(a, b) == (a // b) * 2 + a % b
    node = f.executable.graph_fn.tier._inline[n]
    assert not node.dispatcher.overloads
    assert f(5, 0) == g(5, 0)
    assert node.dispatcher.overloads


def test_view_nodes_run_as_python_typed_as_the_compiled_glue_types_them(glue, monkeypatch):
    """The tier runs slices, integer indices and dimshuffles as numpy
    (``tier["views"]``), never their compiled kernels, and gives the nodes after them
    the very types Numba's compile gives those views (checked against a compile of each
    view kernel for the same argument types): layouts C, F and any, and int64 scalars."""
    from symgraph.link.numba.tiered import PythonNode

    ran_compiled = []
    compiled_entry = PythonNode._compiled

    def spy(self, argtys):
        ran_compiled.append((self, argtys))
        return compiled_entry(self, argtys)

    monkeypatch.setattr(PythonNode, "_compiled", spy)
    glue("tiered")
    for build in (_views, _mlp, _rnn):
        f, _, args = build(np.random.default_rng(0), "float32")
        views = f.executable.module._sg_tier["views"]
        assert len(views) >= 3
        f.executable.hold_python_tier()
        f(*args(1))
        f(*args(2))
        tier = f.executable.graph_fn.tier
        layouts = set()
        for n in views:
            node = tier._inline[n]
            assert isinstance(node, PythonNode) and node.typed, n
            assert not [a for who, a in ran_compiled if who is node], n
            for argtys, ret in node.typed.items():
                node.dispatcher.compile(argtys)
                compiled = node.dispatcher.overloads[argtys].signature.return_type
                assert ret == compiled, (n, argtys)
                layouts.add(getattr(ret, "layout", str(ret)))
        if build is _views:
            assert {"C", "F", "A", "int64"} <= layouts


def test_a_view_that_raises_raises_the_compiled_kernels_error(glue):
    """An integer index out of bounds: the tier's numpy evaluation fails, the node's
    compiled kernel runs and raises its own error, the one the compiled glue raises."""
    x = T.matrix("x")
    k = T.lscalar("k")
    errors = []
    for mode in ("tiered", "compiled"):
        glue(mode)
        f = symgraph.function([x, k], x[k] * 2)
        if mode == "tiered":
            f.executable.hold_python_tier()
        assert f(np.ones((3, 2)), -3).tolist() == [2.0, 2.0]
        with pytest.raises(IndexError) as info:
            f(np.ones((3, 2)), 3)
        errors.append(str(info.value).splitlines()[0])
    assert errors[0] == errors[1] and "out of bounds" in errors[0]


def test_a_view_value_that_does_not_fit_its_type_runs_the_compiled_kernel():
    """``tiered._fit_check``: an array passes for a Numba type only with its dtype, rank,
    writability and the contiguity a C or F layout promises."""
    from numba import types

    from symgraph.link.numba.tiered import _fit_check

    def _fits(value, t):
        return _fit_check(t)(value)

    a = np.zeros((4, 6), "float32")
    c, f, any_ = (types.Array(types.float32, 2, lay) for lay in "CFA")
    assert _fits(a, c) and _fits(a.T, f) and _fits(a[:, 1:], any_)
    assert not _fits(a[:, 1:], c) and not _fits(a, f) and not _fits(a.T, c)
    assert not _fits(a.astype("float64"), c) and not _fits(a[0], c)
    ro = a.copy()
    ro.flags.writeable = False
    assert not _fits(ro, c) and _fits(ro, types.Array(types.float32, 2, "C", readonly=True))
    assert _fits(np.int64(3), types.int64) and not _fits(3, types.int64)
    assert not _fits(np.float64(3), types.float32)
    assert _fit_check(types.unicode_type) is None   # no test for it: the kernel runs


def _run(builder, dtype, steps, glue, mode):
    glue(mode)
    rng = np.random.default_rng(7)
    f, params, args = builder(rng, dtype)
    if mode == "tiered":   # every call on the Python tier, even if graph_fn is cached
        f.executable.hold_python_tier()
    outs = [f(*args(k)) for k in range(steps)]
    assert f.executable.tiered == (mode == "tiered")
    return outs, [np.array(p.get_value()) for p in params]


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_both_tiers_give_theassert_same_bits(name, dtype, monkeypatch, glue):
    """Five training steps on the Python tier and on the compiled glue: every output and
    every updated parameter is the same to the bit."""
    tier = _run(GRAPHS[name], dtype, 5, glue, "tiered")
    compiled = _run(GRAPHS[name], dtype, 5, glue, "compiled")
    assert_same_bits(tier, compiled)


def test_a_chain_adds_left_to_right_as_the_nary_sum_does(glue):
    """float32 values where the order of the additions shows in the result: the Python
    tier's chain of binary additions (``tier_steps.py``), the compiled glue's fused n-ary
    sum and the py backend all add left to right."""
    vals = np.array([1e8, 1.0, -1e8, 3.0, 0.5], "float32")
    xs = [T.fscalar(f"x{k}") for k in range(len(vals))]
    total = T.cosh(xs[0] * 0) * (xs[0] + xs[1] + xs[2] + xs[3] + xs[4])
    expect = vals[0]
    for v in vals[1:]:
        expect = np.float32(expect + v)
    assert expect != np.float32(vals.sum(dtype="float64"))   # the order shows
    for mode in ("tiered", "compiled", "py"):
        glue("compiled" if mode == "py" else mode)
        f = symgraph.function(xs, total, mode="py" if mode == "py" else None)
        if mode == "tiered":
            f.executable.hold_python_tier()
            assert any(isinstance(k, tuple) for k in _tier_kernels(f))   # split into steps
        assert f(*vals) == expect and f(*vals).dtype == np.float32


def _new_graph(scale, rows):
    """A small graph with views, a product, a reduction and an update (``scale``, like
    any scalar constant, is an argument of the glue, not part of its source)."""
    x = T.matrix("x")
    W = symgraph.shared(np.linspace(-1, 1, 15).reshape(5, 3), name="W")
    xr = x.reshape((rows, 5))
    y = sigmoid(T.dot(xr[1:], W) * scale).max(axis=0) + xr.T.sum(axis=1)[:3]
    return symgraph.function([x], y, updates=[(W, W * 0.5)])


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache directory (and no module loaded from the usual one): the graph's
    glue is new, whatever earlier runs compiled."""
    from symgraph.link.numba import cache

    monkeypatch.setattr(symgraph.config, "cache_dir", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_loaded", {})


def _data(rows):
    return np.linspace(-2, 2, rows * 5).reshape(rows, 5)


def test_switches_to_the_compiled_glue(glue, fresh_cache):
    """With the real worker the function moves to ``graph_fn`` between two calls, and
    gives what the compiled function gives."""
    glue("tiered")
    rows = 7
    x = _data(rows)
    f = _new_graph(1.25, rows)
    first = f(x)
    assert f.executable.tiered
    deadline = time.monotonic() + 300
    while f.executable.tiered and time.monotonic() < deadline:
        f(x)
        time.sleep(0.05)
    assert not f.executable.tiered, "the background compile did not finish in 300 s"
    assert f.executable.graph_fn is f.executable.module.graph_fn
    glue("compiled")
    g = _new_graph(0.5, rows)
    assert not g.executable.tiered   # the worker's machine code is in the cache
    h = _new_graph(1.25, rows)
    assert_same_bits(first, h(x))


def test_a_failed_background_compile_compiles_here(glue, monkeypatch, fresh_cache):
    """When the worker cannot start, the next call compiles the glue in this process
    (one warning naming why) and the results are those of the compiled glue."""
    glue("tiered")
    monkeypatch.setattr(glue_worker, "_compiler", glue_worker.GlueCompiler())
    monkeypatch.setattr(glue_worker.sys, "executable", "/nonexistent/python")
    from symgraph.link.numba import tiered

    monkeypatch.setattr(tiered, "_warned", set())
    rows = 7
    x = _data(rows)
    f = _new_graph(0.75, rows)
    first = f(x)
    assert f.executable.tiered
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = f(x)
    assert not f.executable.tiered
    assert any("background compile did not succeed" in str(w.message) for w in caught)
    glue("compiled")
    g = _new_graph(0.75, rows)
    assert_same_bits([first, second], [g(x), g(x)])


def test_jobs_of_dropped_functions_are_skipped():
    """A function collected before its turn costs the worker nothing."""
    class Owner:
        pass

    c = glue_worker.GlueCompiler()
    c.busy = object()   # the worker is busy: jobs wait in the queue
    o = Owner()
    job = glue_worker.GlueJob({"name": "x"}, o)
    c.submit(job)
    del o
    gc.collect()
    c.busy = None
    with c.lock:
        c._send_next()
    assert job.done and not job.ok and job.error == "dropped"
    assert c.proc is None   # nothing was started for it


def test_config_rejects_unknown_glue_mode():
    with pytest.raises(ValueError, match="numba_glue"):
        symgraph.config.numba_glue = "background"
