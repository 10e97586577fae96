"""Elementwise loops over unit-stride rows (``impl/elemwise.py``, ``helpers.row``).

Column slices of a C matrix (an LSTM's gates ``z[:, :H]``) are not C-contiguous, so they
miss the flat loop; their rows still have a one-element stride, and the loop over them
must be the SIMD one. Operands whose last stride is not one element (transposes, steps)
take the general loop, with the same results.
"""
import re
import tempfile

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode

RNG = np.random.default_rng(20261205)
H = 16


def _gates():
    z = T.matrix("z", dtype="float32")
    c = T.matrix("c", dtype="float32")
    b = T.vector("b", dtype="float32")
    i = T.nnet.sigmoid(z[:, :H])
    f = T.nnet.sigmoid(z[:, H:2 * H])
    o = T.nnet.sigmoid(z[:, 2 * H:3 * H])
    cell = f * c + i * T.tanh(z[:, 3 * H:]) + b     # b broadcasts over rows
    return [z, c, b], [o * T.tanh(cell), cell]


@pytest.fixture(scope="module")
def functions():
    from symgraph.config import config

    old = config.cache_dir, config.numba_glue
    config.cache_dir = tempfile.mkdtemp()  # IR is only shown for a fresh compile
    config.numba_glue = "compiled"   # compiled here, so that graph_fn's IR can be read
    try:
        ins, outs = _gates()
        yield symgraph.function(ins, outs), symgraph.function(ins, outs, mode=Mode(linker="py"))
    finally:
        config.cache_dir, config.numba_glue = old


def _args(batch):
    z = (RNG.standard_normal((batch, 4 * H)) * 4).astype(np.float32)
    return z, RNG.standard_normal((batch, H)).astype(np.float32), \
        RNG.standard_normal(H).astype(np.float32)


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
@pytest.mark.parametrize("batch", [1, 7, 33])
def test_rows_and_general_loop_agree_with_numpy(functions, layout, batch):
    fn, ref = functions
    z, c, b = _args(batch)
    expected = ref(z, c, b)
    if layout == "F":
        z, c = np.asfortranarray(z), np.asfortranarray(c)
    elif layout == "strided":  # last stride of two elements: not a unit row
        z2 = np.empty((batch, 8 * H), np.float32)
        z2[:, ::2] = z
        z = z2[:, ::2]
        b2 = np.empty(2 * H, np.float32)
        b2[::2] = b
        b = b2[::2]
    for got, want in zip(fn(z, c, b), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gate_loop_over_rows_is_simd_without_gathers(functions):
    fn, _ = functions
    fn(*_args(4))
    # the loop is in graph_fn or in a kernel module it calls (``_sgk<n>``)
    module = fn.executable.module
    fns = [fn.executable.graph_fn] + [v for k, v in vars(module).items()
                                      if k.startswith("_sgk")]
    ir = "\n".join(f.inspect_llvm(sig) for f in fns for sig in f.signatures)
    src = fn.executable.source
    assert "_sg_helpers.row(" in src
    # the unit-row loop loads each of its six row operands (four gate slices, c, b) as
    # vectors; the general loop can load only the C-typed c and b that way (gathers else)
    vector_loads = re.findall(r"load <\d+ x float>", ir)
    assert len(vector_loads) >= 6, vector_loads
    assert re.search(r"store <\d+ x float>", ir)


@pytest.mark.parametrize("set_instead", [False, True])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_inc_subtensor_of_column_block(set_instead, layout):
    """``inc_subtensor(x[:, a:b], y)`` (the gate gradients of an LSTM's backward step)
    takes unit-stride rows when it can and the general loop otherwise; y broadcast along
    rows too."""
    x = T.matrix("x", dtype="float32")
    y = T.matrix("y", dtype="float32")
    yb = T.row("yb", dtype="float32")
    fn = T.set_subtensor if set_instead else T.inc_subtensor
    outs = [fn(x[:, H:3 * H], y), fn(x[:, 2:H + 2], yb)]
    f = symgraph.function([x, y, yb], outs)
    xv = RNG.standard_normal((9, 4 * H)).astype(np.float32)
    yv = RNG.standard_normal((9, 2 * H)).astype(np.float32)
    ybv = RNG.standard_normal((1, H)).astype(np.float32)
    if layout == "F":
        xv, yv = np.asfortranarray(xv), np.asfortranarray(yv)
    elif layout == "strided":
        yv = np.repeat(yv, 2, axis=1)[:, ::2]
    want0, want1 = xv.copy(), xv.copy()
    if set_instead:
        want0[:, H:3 * H] = yv
        want1[:, 2:H + 2] = ybv
    else:
        want0[:, H:3 * H] += yv
        want1[:, 2:H + 2] += ybv
    got0, got1 = f(xv, yv, ybv)
    assert "_sg_helpers.row(sub, (j0,)" in f.executable.source
    np.testing.assert_array_equal(got0, want0)
    np.testing.assert_array_equal(got1, want1)


@pytest.mark.parametrize("shape", [(7, 33), (3, 5, 17), (1, 1), (0, 4), (4, 0)])
def test_one_loop_body_for_flat_and_rows_gives_the_same_bits_on_every_layout(shape):
    """Full-shape operands share one loop body: a C-contiguous operand is one row of every
    element, a row slice is a row at a time, anything else takes the element loop. The
    three give numpy's values and, element by element the same code, the same bits."""
    xs = [T.TensorType("float32", (False,) * len(shape))() for _ in range(3)]
    out = [T.nnet.sigmoid(xs[0]) * T.tanh(xs[1]) + xs[2] * 0.5, T.exp(xs[0]) - xs[2]]
    f = symgraph.function(xs, out)
    base = [(RNG.standard_normal(shape) * 3).astype(np.float32) for _ in range(3)]

    def wider(v):   # the same values as a view whose rows have a unit stride
        w = np.zeros(v.shape[:-1] + (v.shape[-1] + 3,), np.float32)
        w[..., 1:1 + v.shape[-1]] = v
        return w[..., 1:1 + v.shape[-1]]

    layouts = {"C": base, "rows": [wider(v) for v in base],
               "F": [np.asfortranarray(v) for v in base],
               "mixed": [base[0], wider(base[1]), np.asfortranarray(base[2])]}
    results = {name: f(*vals) for name, vals in layouts.items()}
    a, b, c = (v.astype(np.float64) for v in base)
    want = [1 / (1 + np.exp(-a)) * np.tanh(b) + c * 0.5, np.exp(a) - c]
    for name, got in results.items():
        for g, w in zip(got, want):
            assert g.shape == shape
            np.testing.assert_allclose(g, w, rtol=2e-6, atol=2e-6, err_msg=name)
        for g, ref in zip(got, results["C"]):
            np.testing.assert_array_equal(g, ref, err_msg=name)


@pytest.mark.parametrize("layout", ["F", "stepped", "C", "rows"])
def test_in_place_output_into_an_operand_of_any_layout(layout):
    """An in-place output whose operand lacks a unit last stride is computed in a
    C-contiguous copy and written back: the operand's own memory holds the result."""
    from symgraph.tensor import scalar_ops as ts
    from symgraph.tensor.elemwise import Elemwise

    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = symgraph.function([x, y], Elemwise(ts.Add(), {0: 0})(x, T.tanh(y)),
                          mode=Mode("numba", optimizer=None), accept_inplace=True)
    base = RNG.standard_normal((5, 7))
    a = {"F": np.asfortranarray(base), "stepped": np.repeat(base, 2, axis=1)[:, ::2],
         "C": base.copy(), "rows": np.hstack([base, base])[:, 3:10]}[layout]
    keep = a.copy()
    b = RNG.standard_normal((5, 7))
    got = f(a, b)
    np.testing.assert_allclose(got, keep + np.tanh(b), rtol=1e-13)
    np.testing.assert_array_equal(a, got)


_FLAG_FNS: dict = {}


def _flag_fns():
    """Numba's ``a.flags.c_contiguous`` and ``helpers.c_contiguous``, compiled."""
    if not _FLAG_FNS:
        import numba

        from symgraph.link.numba.helpers import c_contiguous

        _FLAG_FNS["numba"] = numba.njit(lambda a: a.flags.c_contiguous)
        _FLAG_FNS["ours"] = numba.njit(lambda a: c_contiguous(a))
    return _FLAG_FNS["numba"], _FLAG_FNS["ours"]


def test_c_contiguous_follows_numbas_rule_on_every_shape_and_stride():
    """``helpers.c_contiguous`` (the elementwise kernels' flat-loop test, a few IR
    instructions) gives Numba's own ``flags.c_contiguous`` for arrays typed 'A' and 'F'
    of ranks 1-4: sizes 0, 1 and more, strides of any sign, zero, contiguous and not
    (only the arrays' headers are read: the strided views below are never indexed)."""
    from numpy.lib.stride_tricks import as_strided

    numba_flag, ours = _flag_fns()
    rng = np.random.default_rng(11)
    base = np.zeros(4096, dtype=np.float32)
    checked = 0
    for _ in range(600):
        nd = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.choice([0, 1, 1, 2, 3, 5], nd))
        if rng.random() < 0.5:   # C strides, with some axes disturbed
            strides = [4] * nd
            for d in range(nd - 2, -1, -1):
                strides[d] = strides[d + 1] * max(shape[d + 1], 1)
            for d in range(nd):
                if rng.random() < 0.3:
                    strides[d] = int(rng.choice([0, 4, 8, -4, 12, 16]))
        else:
            strides = [int(v) for v in rng.choice([0, 4, 8, -4, 12, 20, 40], nd)]
        a = as_strided(base[2048:], shape, strides, writeable=True)
        for view in (a, a.T if nd > 1 else a):
            assert ours(view) == numba_flag(view), (view.shape, view.strides)
            checked += 1
        if nd > 1:
            f = np.asfortranarray(np.zeros(shape, dtype=np.float32))
            assert ours(f) == numba_flag(f), (f.shape, f.strides)
    assert checked >= 600
