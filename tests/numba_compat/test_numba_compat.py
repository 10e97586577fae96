"""Numba's and scipy's internals behind one gate (``symgraph/numba_compat``).

The gate: checked versions use the internals, any other version warns once and takes
the public path, ``SYMGRAPH_NUMBA_FALLBACK=1`` forces the public path silently. The
public paths themselves: the BLAS ``cfunc``s against numpy, the IR helpers against the
``cgutils`` functions they replace, and a core subset of the suite run in a subprocess
with every fallback forced.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numba
import numpy as np
import pytest
from llvmlite import ir

import symgraph.numba_compat as compat
from symgraph.numba_compat import llvm as sgll
from symgraph.numba_compat import scipy_blas

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_gate(monkeypatch):
    """The gate undecided, the versions checked as installed, no forced switch; and the
    process's own decisions restored afterwards."""
    saved = dict(compat._decided), dict(compat._found)
    monkeypatch.delenv(compat.ENV, raising=False)
    compat._reset()
    yield monkeypatch
    compat._reset()
    compat._decided.update(saved[0])
    compat._found.update(saved[1])


def test_jit_options_only_with_the_internals(fresh_gate):
    fresh_gate.setenv(compat.ENV, "1")
    compat._reset()
    assert compat.jit_options() == {}
    fresh_gate.delenv(compat.ENV)
    compat._reset()
    want = {"no_cfunc_wrapper": True} if compat.numba_internals() else {}
    assert compat.jit_options() == want


def _compat_warnings(record):
    return [w for w in record if issubclass(w.category, compat.NumbaCompatWarning)]


def test_checked_versions_use_the_internals_without_a_warning(fresh_gate):
    fresh_gate.setitem(compat.CHECKED, "numba", (numba.__version__,))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert compat.numba_internals() is True
    assert not _compat_warnings(record)
    assert compat.status()["versions"]["numba"] == numba.__version__


def test_an_unknown_numba_warns_once_and_takes_the_public_path(fresh_gate):
    fresh_gate.setitem(compat.CHECKED, "numba", ("0.0.1",))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        answers = [compat.numba_internals() for _ in range(3)]
    assert answers == [False, False, False]
    (w,) = _compat_warnings(record)
    assert numba.__version__ in str(w.message) and "0.0.1" in str(w.message)

    # the public path gives the same results: a dispatcher compiled through it
    from symgraph.link.numba.fastload import load_or_compile

    @numba.njit
    def cube(a):
        return a * a * a

    sig = (numba.float64[:],)
    assert load_or_compile(cube, sig) is False   # compiled (there was no cache)
    assert load_or_compile(cube, sig) is True    # now in memory
    assert np.array_equal(cube(np.arange(4.0)), np.arange(4.0) ** 3)
    # the other private uses answer their public way
    from symgraph.numba_compat import cachefile, dispatch

    assert cachefile.install_checked_cache(cube, print) is False
    assert cachefile.numba_cache_subdir(__file__) is None
    assert dispatch.load_cached_overload(cube, sig) is False
    assert dispatch.disable_disk_cache(cube) is False


def test_an_unknown_scipy_warns_once(fresh_gate):
    fresh_gate.setattr(compat, "CHECKED_SCIPY", ("0.1",))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert compat.scipy_internals() is False
        assert compat.scipy_internals() is False
        lib, addrs, where = scipy_blas.bind_blas(["dgemm"])
    assert len(_compat_warnings(record)) == 1
    assert lib is None and where["source"] == "numba-public"
    assert addrs["dgemm"] == scipy_blas.public_blas_addresses(["dgemm"])["dgemm"]


def test_the_forced_switch_is_silent(fresh_gate):
    fresh_gate.setenv(compat.ENV, "1")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert compat.numba_internals() is False
        assert compat.scipy_internals() is False
    assert not _compat_warnings(record)
    assert compat.status()["forced"] is True


# ------------------------------------------------------------------ public BLAS

_CT = {np.float32: ctypes.c_float, np.float64: ctypes.c_double}


def _ptr(value):
    return ctypes.cast(ctypes.pointer(value), ctypes.c_void_p)


def _call_gemm(name, dt, ta, tb, a, b, alpha, beta, c):
    """Fortran ?gemm through the public cfunc, on column-major copies; returns C."""
    fn = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 13)(
        scipy_blas.public_blas_addresses([name])[name])
    m, n = c.shape
    k = a.shape[1] if ta == "n" else a.shape[0]
    af, bf, cf = (np.asfortranarray(v) for v in (a, b, c))
    al, be = np.array([alpha], dt), np.array([beta], dt)
    i32 = ctypes.c_int32
    fn(_ptr(ctypes.c_int8(ord(ta))), _ptr(ctypes.c_int8(ord(tb))), _ptr(i32(m)),
       _ptr(i32(n)), _ptr(i32(k)), al.ctypes.data, af.ctypes.data, _ptr(i32(af.shape[0])),
       bf.ctypes.data, _ptr(i32(bf.shape[0])), be.ctypes.data, cf.ctypes.data,
       _ptr(i32(cf.shape[0])))
    return cf


def _call_gemv(name, dt, trans, a, x, alpha, beta, y):
    fn = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 11)(
        scipy_blas.public_blas_addresses([name])[name])
    m, n = a.shape
    af = np.asfortranarray(a)
    al, be = np.array([alpha], dt), np.array([beta], dt)
    x, y = x.copy(), y.copy()
    i32 = ctypes.c_int32
    fn(_ptr(ctypes.c_int8(ord(trans))), _ptr(i32(m)), _ptr(i32(n)), al.ctypes.data,
       af.ctypes.data, _ptr(i32(m)), x.ctypes.data, _ptr(i32(1)), be.ctypes.data,
       y.ctypes.data, _ptr(i32(1)))
    return y


@pytest.mark.parametrize("kind,dt", [("s", np.float32), ("d", np.float64),
                                     ("z", np.complex128)])
def test_public_blas_matches_numpy(kind, dt):
    rng = np.random.default_rng(3)

    def rand(*shape):
        v = rng.standard_normal(shape)
        return (v + 1j * rng.standard_normal(shape) if kind == "z" else v).astype(dt)

    tol = 1e-4 if dt == np.float32 else 1e-10
    for ta in "nt":
        for tb in "nt":
            a = rand(3, 4) if ta == "n" else rand(4, 3)
            b = rand(4, 5) if tb == "n" else rand(5, 4)
            opa, opb = (a if ta == "n" else a.T), (b if tb == "n" else b.T)
            c = rand(3, 5)
            got = _call_gemm(f"{kind}gemm", dt, ta, tb, a, b, 2.0, 0.5, c)
            np.testing.assert_allclose(got, 2 * opa @ opb + 0.5 * c, rtol=tol, atol=tol)
            # beta == 0: C is not read (NaNs there do not propagate), as in BLAS
            got = _call_gemm(f"{kind}gemm", dt, ta, tb, a, b, 1.0, 0.0,
                             np.full((3, 5), np.nan, dt))
            np.testing.assert_allclose(got, opa @ opb, rtol=tol, atol=tol)
    a, y = rand(3, 4), rand(3)
    for trans, x in (("n", rand(4)), ("t", rand(3))):
        yy = rand(4) if trans == "t" else y
        op = a if trans == "n" else a.T
        got = _call_gemv(f"{kind}gemv", dt, trans, a, x, 1.5, -1.0, yy)
        np.testing.assert_allclose(got, 1.5 * op @ x - yy, rtol=tol, atol=tol)


def test_bind_blas_prefers_the_wheels_library_on_a_checked_scipy(fresh_gate):
    fresh_gate.setattr(compat, "CHECKED_SCIPY", (compat._installed_scipy(),))
    lib, addrs, where = scipy_blas.bind_blas(["sgemm", "dgemv"])
    assert set(addrs) == {"sgemm", "dgemv"} and all(addrs.values())
    if where["source"] == "library":   # a pip wheel: its OpenBLAS, opened directly
        assert lib is not None and "openblas" in where["path"]
    else:                              # scipy on a system BLAS: its capsules
        assert where["source"] == "scipy.linalg.cython_blas"


# ------------------------------------------------------------------ IR helpers

def _function():
    module = ir.Module()
    i64 = ir.IntType(64)
    fn = ir.Function(module, ir.FunctionType(i64, [i64]), "f")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    return module, builder, fn.args[0]


def _emit(helpers):
    """The same small function written with ``helpers`` (ours or cgutils')."""
    declare, slot, loop = helpers
    module, builder, n = _function()
    i64 = ir.IntType(64)
    acc = slot(builder, i64(0))
    fma = declare(module, ir.FunctionType(i64, [i64]), "ext")
    assert declare(module, ir.FunctionType(i64, [i64]), "ext") is fma
    with loop(builder, n) as lp:
        builder.store(builder.add(builder.load(acc), builder.call(fma, [lp.index])), acc)
    builder.ret(builder.load(acc))
    return str(module)


def test_ir_helpers_emit_what_cgutils_emitted():
    from numba.core import cgutils

    ours = _emit((sgll.declare_function, sgll.stack_slot, sgll.counted_loop))
    theirs = _emit((cgutils.get_or_insert_function, cgutils.alloca_once_value,
                    cgutils.for_range))
    assert ours == theirs
    assert "for.cond" in ours and "alloca" in ours


# ------------------------------------------------------------------ whole programs

UNKNOWN_NUMBA = textwrap.dedent("""
    import warnings
    warnings.simplefilter("always")
    import numpy as np
    import symgraph.numba_compat as compat
    compat.CHECKED["numba"] = ("0.0.1",)    # as if this Numba were unknown
    import symgraph, symgraph.tensor as T
    x = T.matrix("x")
    w = symgraph.shared(np.arange(12.0).reshape(4, 3), name="w")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        f = symgraph.function([x], T.nnet.softmax(T.dot(x, w)).sum(),
                              updates={w: w * 0.5})
        a = np.ones((2, 4))
        r = [float(f(a)), float(f(a))]
        v = T.vector("v")
        h = symgraph.function([v], T.exp(v) * T.sin(v))
        big = np.linspace(0.0, 1.0, 1 << 17)
        assert np.allclose(h(big), np.exp(big) * np.sin(big))
    n = sum(issubclass(rec.category, compat.NumbaCompatWarning) for rec in record)
    assert np.allclose(r, [2.0, 2.0]), r
    assert np.array_equal(w.get_value(), np.arange(12.0).reshape(4, 3) * 0.25)
    print("warnings", n, "internals", compat.numba_internals())
""")


def test_a_program_on_an_unknown_numba_warns_once_and_computes_right():
    env = {k: v for k, v in os.environ.items() if k != compat.ENV}
    r = subprocess.run([sys.executable, "-c", UNKNOWN_NUMBA], capture_output=True,
                       text=True, env=env, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split("\n")[-2] == "warnings 1 internals False", r.stdout[-500:]


#: the core of the suite, run with every fallback forced: graphs through the public
#: paths (products whose callees are linked by Numba, BLAS through np.dot, the disk
#: cache as Numba keeps it), the call path, and the hand-written kernels
#: the core on the public path: function() and its call paths, products (BLAS through the
#: public cfuncs), the parallel gemm kernel, fused and strided elementwise loops, errors.
#: Chosen to stay about a minute on a cold cache (whole files took ~7 minutes in CI's
#: first run: the forced path compiles everything afresh)
CORE = ["tests/compile/test_function.py",
        "tests/tensor/test_dot.py::test_dot_of_transposed_and_strided_operands",
        "tests/kernels/cpu/test_gemm.py::test_declines_what_it_does_not_handle",
        "tests/kernels/cpu/test_gemm.py::test_nan_in_z_is_not_read_when_beta_is_zero_and_propagates_otherwise",
        "tests/tensor/test_elemwise.py::test_fused_loop_is_one_composite_with_integer_temporaries",
        "tests/tensor/test_elemwise.py::test_noncontiguous_inputs_take_the_strided_loop",
        "tests/tensor/test_elemwise.py::test_mismatch_inside_a_fused_composite_names_the_fused_op",
        "tests/tensor/test_elemwise.py::test_inplace_elementwise_on_an_intermediate"]


def test_the_core_suite_passes_with_the_fallbacks_forced():
    env = dict(os.environ, **{compat.ENV: "1"})
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                        "-m", "not slow", *CORE], capture_output=True, text=True, env=env,
                       timeout=1800, cwd=ROOT)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-2000:])
    assert " passed" in r.stdout.split("\n")[-2], r.stdout[-500:]
