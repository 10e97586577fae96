"""float32 exp/tanh/log1p/sin/cos as vectorizable arithmetic (link/numba/vmath.py).

Accuracy is measured in ulps of float32 against float64 numpy, over ordinary ranges,
wide magnitudes and random bit patterns (every finite float32 is a valid input); special
values must match numpy's float32 results exactly. The loops must really be SIMD: that
is why these functions exist.
"""
import re

import numba
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.link.numba import vmath

RNG = np.random.default_rng(20261123)


def _loop(fn):
    @numba.njit(error_model="numpy", nogil=True)
    def loop(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    return loop


NAMES = ("exp", "tanh", "log1p", "sin", "cos")
LOOPS = {name: _loop(getattr(vmath, name)) for name in NAMES}


def _samples():
    n = 200_000
    random_bits = RNG.integers(0, 0xFFFFFFFF, n, dtype=np.uint64).astype(np.uint32)
    finite = random_bits.view(np.float32)
    finite = finite[np.isfinite(finite)]
    return {
        "uniform(-10, 10)": RNG.uniform(-10, 10, n),
        "uniform(-1e4, 1e4)": RNG.uniform(-1e4, 1e4, n),
        "log-uniform magnitudes 1e-40..1e38": (np.exp(RNG.uniform(-92, 87.5, n))
                                                * RNG.choice([-1, 1], n)),
        "random bit patterns": finite,
        "exp range edges": RNG.uniform(-110, 90, n),
        "near multiples of pi/2": (np.arange(-n // 2, n // 2) * (np.pi / 2)
                                   + RNG.uniform(-1e-3, 1e-3, n)),
    }


def _ulp_error(name, x):
    x = x.astype(np.float32)
    out = np.empty_like(x)
    LOOPS[name](x, out)
    with np.errstate(all="ignore"):
        ref = getattr(np, name)(x.astype(np.float64))
        ref32 = ref.astype(np.float32)
    same_class = (np.isnan(out) == np.isnan(ref32)) & (np.isinf(out) == np.isinf(ref32))
    assert same_class.all(), (name, x[~same_class][:5], out[~same_class][:5])
    finite = np.isfinite(ref32)
    ulp = np.spacing(np.abs(ref32[finite])).astype(np.float64)
    return float((np.abs(out[finite] - ref[finite]) / ulp).max())


SAMPLES = _samples()


@pytest.mark.parametrize("name, bound", [("exp", 1.5), ("tanh", 2.0), ("log1p", 1.0),
                                         ("sin", 1.0), ("cos", 1.0)])
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_error_in_ulps(name, bound, sample):
    x = SAMPLES[sample]
    err = _ulp_error(name, x)
    assert err <= bound, f"{name} on {sample}: {err:.3f} ulp"


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754944e-38,
                    3.4028235e38, -3.4028235e38, 88.72, 88.73, 89.0, -87.33, -103.9, -104.0,
                    -200.0, 1e-30, np.pi / 2, np.pi, 1e6, 16777216.0, 0.625, -0.625,
                    0.62499994, 9.0, -9.1, 44.0, -1e-20, -1.0, -0.99999994, -1.5], np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_special_values_match_numpy(name):
    out = np.empty_like(SPECIAL)
    LOOPS[name](SPECIAL, out)
    with np.errstate(all="ignore"):
        ref = getattr(np, name)(SPECIAL)
    with np.errstate(invalid="ignore"):
        ok = (out == ref) | (np.isnan(out) & np.isnan(ref)) | (
            np.abs(out - ref) <= np.spacing(np.abs(ref)))
    assert ok.all(), (SPECIAL[~ok], out[~ok], ref[~ok])
    # zeros keep their sign where numpy's does
    zero = ref == 0
    assert (np.signbit(out[zero]) == np.signbit(ref[zero])).all()


@pytest.mark.parametrize("name", NAMES)
def test_float32_loop_is_vectorized_without_libm_calls(name):
    loop = LOOPS[name]
    x = np.ones(16, np.float32)
    loop(x, np.empty_like(x))
    ir_text = loop.inspect_llvm(loop.signatures[0])
    assert re.search(r"<\d+ x (float|double)>", ir_text), "no vector code"
    libm = re.findall(r"call [^\n]*@(expf|tanhf|log1pf|sinf|cosf|llvm\.(exp|sin|cos)\.\S+)\(",
                      ir_text)
    assert not libm, libm


def test_other_dtypes_keep_numpys_functions():
    for dtype in (np.float64, np.complex128):
        x = (np.linspace(-3, 3, 7) + (0.5j if dtype is np.complex128 else 0)).astype(dtype)
        for name in NAMES:
            out, ref = np.empty_like(x), np.empty_like(x)
            _loop(getattr(vmath, name))(x, out)
            _loop(getattr(np, name))(x, ref)  # Numba's own np.<name> (complex tanh: not numpy's)
            np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_graphs_use_them(dtype, tmp_path, monkeypatch):
    # a fresh graph cache: Numba cannot show the IR of a graph loaded from its cache
    from symgraph.config import config

    monkeypatch.setattr(config, "cache_dir", str(tmp_path))
    monkeypatch.setattr(config, "numba_glue", "compiled")   # graph_fn's IR is inspected
    v = T.vector("x", dtype=dtype)
    e = T.exp(-v ** 2) * T.sin(v) + T.cos(3 * v) / (1 + T.exp(-v)) + T.tanh(v / 2) \
        + T.nnet.softplus(v) + T.log1p(v ** 2)
    f = symgraph.function([v], e)
    ref = symgraph.function([v], e, mode=Mode(linker="py"))
    x = RNG.standard_normal(5000).astype(dtype) * 4
    out = f(x)
    # float32 reaches the vector code: neither graph_fn nor the kernels it calls (kernel
    # modules, ``_sgk<n>``) call scalar libm exp/tanh/log1p/sin/cos
    module = f.executable.module
    fns = [f.executable.graph_fn] + [v for k, v in vars(module).items() if k.startswith("_sgk")]
    graph_ir = "\n".join(fn.inspect_llvm(sig) for fn in fns for sig in fn.signatures)
    libm = re.findall(r"call [^\n]*@(expf|tanhf|log1pf|sinf|cosf|tanh|log1p"
                      r"|llvm\.(?:exp|sin|cos)\.\S+)\(", graph_ir)
    if dtype == "float32":
        assert not libm, libm
        # inlined into the graph's own loop, which is SIMD (no call per element)
        assert re.search(r"<\d+ x float>", graph_ir), "graph loop not vectorized"
        assert not re.search(r"call [^\n]*@\S*vmath", graph_ir)
    else:
        assert libm  # float64 keeps numpy's (libm) functions
    assert out.dtype == dtype
    tol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(out, ref(x), rtol=tol, atol=tol)


def test_tanh_dense_sweep():
    """Every 61st float32 bit pattern, both signs: within 2 ulp, odd, +-1 when saturated."""
    x = np.arange(0, 0x7F800000, 61, dtype=np.uint32).view(np.float32)
    out, neg = np.empty_like(x), np.empty_like(x)
    LOOPS["tanh"](x, out)
    LOOPS["tanh"](-x, neg)
    assert (neg == -out).all() and (np.signbit(neg) == ~np.signbit(out)).all()
    ref = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(ref.astype(np.float32))).astype(np.float64)
    err = np.abs(out - ref) / ulp
    assert err.max() <= 2.0, (x[err.argmax()], err.max())
    assert (out[x >= 9.1] == 1).all()              # saturated: exactly 1, as rounding gives
    tiny = x < 1e-4
    assert (out[tiny] == x[tiny]).all()            # tanh(x) = x to float32 precision


@pytest.mark.parametrize("op", ["tanh", "sigmoid"])
def test_float32_gradients_match_float64(op):
    """The gradients go through the same fast functions: float32 against float64."""
    fn = getattr(T, op) if op == "tanh" else T.nnet.sigmoid
    grads = {}
    for dtype in ("float32", "float64"):
        v = T.vector("x", dtype=dtype)
        cost = (fn(v) * T.cos(v)).sum()
        grads[dtype] = symgraph.function([v], T.grad(cost, v))
    x = np.concatenate([RNG.standard_normal(2000) * 5, [0.0, -0.0, 30.0, -30.0, 1e-30]])
    x = x.astype(np.float32)
    g32 = grads["float32"](x)
    g64 = grads["float64"](x.astype(np.float64))
    assert g32.dtype == np.float32
    # a few float32 roundings of terms of size <= 1 (cos(x) f'(x) - sin(x) f(x))
    np.testing.assert_allclose(g32, g64, rtol=1e-5, atol=4 * np.finfo(np.float32).eps)
