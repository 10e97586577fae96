"""float32 exp/sin/cos as vectorizable arithmetic (link/numba/vmath.py).

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


LOOPS = {"exp": _loop(vmath.exp), "sin": _loop(vmath.sin), "cos": _loop(vmath.cos)}


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


@pytest.mark.parametrize("name, bound", [("exp", 1.5), ("sin", 1.0), ("cos", 1.0)])
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_error_in_ulps(name, bound, sample):
    x = SAMPLES[sample]
    err = _ulp_error(name, x)
    assert err <= bound, f"{name} on {sample}: {err:.3f} ulp"


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754944e-38,
                    3.4028235e38, -3.4028235e38, 88.72, 88.73, 89.0, -87.33, -103.9, -104.0,
                    -200.0, 1e-30, np.pi / 2, np.pi, 1e6, 16777216.0], np.float32)


@pytest.mark.parametrize("name", ["exp", "sin", "cos"])
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


@pytest.mark.parametrize("name", ["exp", "sin", "cos"])
def test_float32_loop_is_vectorized_without_libm_calls(name):
    loop = LOOPS[name]
    x = np.ones(16, np.float32)
    loop(x, np.empty_like(x))
    ir_text = loop.inspect_llvm(loop.signatures[0])
    assert re.search(r"<\d+ x (float|double)>", ir_text), "no vector code"
    libm = re.findall(r"call [^\n]*@(expf|sinf|cosf|llvm\.(exp|sin|cos)\.\S+)\(", ir_text)
    assert not libm, libm


def test_other_dtypes_keep_numpys_functions():
    for dtype in (np.float64, np.complex128):
        x = (np.linspace(-3, 3, 7) + (0.5j if dtype is np.complex128 else 0)).astype(dtype)
        for name in ("exp", "sin", "cos"):
            out = np.empty_like(x)
            _loop(getattr(vmath, name))(x, out)
            np.testing.assert_array_equal(out, getattr(np, name)(x))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_graphs_use_them(dtype, tmp_path, monkeypatch):
    # a fresh graph cache: Numba cannot show the IR of a graph loaded from its cache
    from symgraph.config import config

    monkeypatch.setattr(config, "cache_dir", str(tmp_path))
    v = T.vector("x", dtype=dtype)
    e = T.exp(-v ** 2) * T.sin(v) + T.cos(3 * v) / (1 + T.exp(-v))
    f = symgraph.function([v], e)
    ref = symgraph.function([v], e, mode=Mode(linker="py"))
    x = RNG.standard_normal(5000).astype(dtype) * 4
    out = f(x)
    # float32 reaches the vector code: neither graph_fn nor the kernels it calls (kernel
    # modules, ``_sgk<n>``) call scalar libm exp/sin/cos
    module = f.executable.module
    fns = [f.executable.graph_fn] + [v for k, v in vars(module).items() if k.startswith("_sgk")]
    graph_ir = "\n".join(fn.inspect_llvm(sig) for fn in fns for sig in fn.signatures)
    libm = re.findall(r"call [^\n]*@(expf|sinf|cosf|llvm\.(?:exp|sin|cos)\.\S+)\(", graph_ir)
    if dtype == "float32":
        assert not libm, libm
    else:
        assert libm  # float64 keeps numpy's (libm) functions
    assert out.dtype == dtype
    tol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(out, ref(x), rtol=tol, atol=tol)
