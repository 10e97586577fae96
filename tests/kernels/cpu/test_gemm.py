"""Batch-shaped matrix product kernels (``kernels.cpu.gemm``) vs the numpy reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from symgraph.kernels.cpu import gemm as G
from symgraph.kernels.cpu import reference as R

DTYPES = [np.float32, np.float64]


def _tol(dtype, k):
    return (2e-6 if np.dtype(dtype) == np.float32 else 1e-14) * max(k, 1) ** 0.5 * 10


def _operands(rng, dtype, m, k, n, kind):
    """x (m, k) and y (k, n) laid out as the three products of a dense layer lay them out:
    nn = activations @ weights, nt = delta @ weights.T, tn = activations.T @ delta."""
    if kind == "nn":
        x = rng.standard_normal((m, k))
        y = rng.standard_normal((k, n))
    elif kind == "nt":
        x = rng.standard_normal((m, k))
        y = rng.standard_normal((n, k)).T
    else:
        x = rng.standard_normal((k, m)).T
        y = rng.standard_normal((k, n))
    return x.astype(dtype), y.astype(dtype)


@st.composite
def problems(draw):
    kind = draw(st.sampled_from(["nn", "nt", "tn"]))
    small = draw(st.integers(1, 16))
    big = draw(st.integers(1, 300))
    other = draw(st.integers(1, 70))
    if kind == "tn":
        m, k, n = big, small, other
    else:
        m, k, n = small, (big if kind == "nn" else other), (other if kind == "nn" else big)
    dtype = draw(st.sampled_from(DTYPES))
    beta = draw(st.sampled_from([0.0, 1.0, 0.999, -2.0]))
    alpha = draw(st.sampled_from([1.0, -0.03, 2.5]))
    in_place = draw(st.booleans())
    return kind, m, k, n, dtype, alpha, beta, in_place, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=80, deadline=None)
@given(problems())
def test_small_gemm_matches_reference_or_declines(p):
    kind, m, k, n, dtype, alpha, beta, in_place, seed = p
    rng = np.random.default_rng(seed)
    x, y = _operands(rng, dtype, m, k, n, kind)
    z = rng.standard_normal((m, n)).astype(dtype)
    z0 = z.copy()
    out = z if in_place else np.full((m, n), np.nan, dtype)
    ref = R.gemm_ref(alpha, x, y, beta, z)
    done = G.small_gemm(dtype(alpha), x, y, dtype(beta), z, out)
    if not done:
        # declined: nothing written
        assert m * n * k < G.MIN_WORK  # the only reason here: every layout has a path
        np.testing.assert_array_equal(z, z0)
        return
    scale = np.abs(x).max() * np.abs(y).max() * k + abs(beta) * np.abs(z0).max()
    np.testing.assert_allclose(out, ref, rtol=0, atol=_tol(dtype, k) * scale)


@pytest.mark.parametrize("batch", [10, 100])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["nn", "nt", "tn"])
def test_network3_dense_shapes(kind, dtype, batch):
    """The 2880 -> 100 layer at batch 10 and 100, every product of its training step
    (at batch 100 the input gradient takes the BLAS-per-thread path)."""
    rng = np.random.default_rng(1)
    m, k, n = {"nn": (batch, 2880, 100), "nt": (batch, 100, 2880),
               "tn": (2880, batch, 100)}[kind]
    x, y = _operands(rng, dtype, m, k, n, kind)
    z = rng.standard_normal((m, n)).astype(dtype)
    out = np.empty((m, n), dtype)
    assert G.small_gemm(dtype(-0.5), x, y, dtype(0.9), z, out)
    scale = np.abs(x).max() * np.abs(y).max() * k
    np.testing.assert_allclose(out, R.gemm_ref(-0.5, x, y, 0.9, z), rtol=0,
                               atol=_tol(dtype, k) * scale)
    out2 = np.full((m, n), np.nan, dtype)
    assert G.small_gemm(dtype(1), x, y, dtype(0), out2, out2)  # beta 0: out2 not read
    np.testing.assert_allclose(out2, R.gemm_ref(1, x, y, 0, out2), rtol=0,
                               atol=_tol(dtype, k) * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout,m,k,n", [
    ("x.T @ y", 160, 700, 173), ("x @ y", 160, 700, 173), ("x @ y.T, x.T", 160, 700, 173),
    ("x @ y", 900, 40, 130), ("x.T @ y", 700, 300, 150)])
def test_large_products_are_split_over_the_threads(layout, m, k, n, dtype):
    """A product too large for the batch kernels (more than SMALL_DIM rows, a long
    reduction) but worth SPLIT_WORK: one single-threaded BLAS call per thread, each for its
    columns (``COLS_BLAS``) or, taller than wide, its rows (``ROWS_BLAS``), in any layout
    BLAS reads in place; z added with beta."""
    from symgraph.kernels.cpu import threads

    rng = np.random.default_rng(5)
    assert m * n * k >= G.SPLIT_WORK
    x = rng.standard_normal((k, m)).T if layout.startswith("x.T") else \
        rng.standard_normal((m, k))
    y = rng.standard_normal((n, k)).T if "y.T" in layout else rng.standard_normal((k, n))
    if layout.endswith("x.T"):
        x = np.asfortranarray(x)
    x, y = x.astype(dtype), y.astype(dtype)
    z = rng.standard_normal((m, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    ref = R.gemm_ref(0.5, x, y, -2.0, z)
    done = G.small_gemm(dtype(0.5), x, y, dtype(-2.0), z, out)
    assert done == (min(threads.task_threads(), max(m, n) // G.ROWS_PER_TASK) > 1)
    if done:
        np.testing.assert_allclose(out, ref, rtol=_tol(dtype, k), atol=_tol(dtype, k))
    else:
        assert np.isnan(out).all()
    # an operand BLAS cannot read in place (no unit stride) is left to the caller
    xs = np.zeros((m, 2 * k), dtype)[:, ::2]
    assert not G.small_gemm(dtype(1), xs, y, dtype(0), out, out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,m,k,n", [("nn", 10, 128, 512), ("nt", 10, 512, 128),
                                        ("nn", 100, 128, 512), ("nt", 100, 512, 128)])
def test_lopsided_batch_products_match_the_reference(kind, m, k, n, dtype):
    """An LSTM's per-step products (``h @ U`` with 4x more columns than reduction rows,
    ``dz @ U.T`` with 4x more reduction rows than columns: ``LOPSIDED``) go to the
    column-split BLAS path; results as the reference, z added with beta, in place too."""
    rng = np.random.default_rng(11)
    x, y = _operands(rng, dtype, m, k, n, kind)
    z = rng.standard_normal((m, n)).astype(dtype)
    ref = R.gemm_ref(1.5, x, y, 0.75, z)
    assert G.small_gemm(dtype(1.5), x, y, dtype(0.75), z, z)
    np.testing.assert_allclose(z, ref, rtol=_tol(dtype, k), atol=_tol(dtype, k))


def test_declines_what_it_does_not_handle():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((10, 2880)).astype(np.float32)
    w = rng.standard_normal((2880, 100)).astype(np.float32)
    out = np.zeros((10, 100), np.float32)
    # batch above SMALL_DIM, too small to split over the threads: the caller's BLAS call
    big = rng.standard_normal((G.SMALL_DIM + 1, 100)).astype(np.float32)
    out33 = np.zeros((G.SMALL_DIM + 1, 100), np.float32)
    assert (G.SMALL_DIM + 1) * 100 * 100 < G.SPLIT_WORK
    assert not G.small_gemm(np.float32(1), big, w[:100], np.float32(0), out33, out33)
    # output with strided columns
    wide = np.zeros((10, 200), np.float32)
    assert not G.small_gemm(np.float32(1), x, w, np.float32(0), wide[:, ::2], wide[:, ::2])
    np.testing.assert_array_equal(wide, 0)
    # output overlapping an operand
    buf = np.zeros((10, 2880), np.float32)
    assert not G.small_gemm(np.float32(1), buf, w, np.float32(0), buf[:, :100], buf[:, :100])
    # strided operands (neither axis contiguous)
    xs = np.zeros((10, 5760), np.float32)[:, ::2]
    assert not G.small_gemm(np.float32(1), xs, w, np.float32(0), out, out)


def test_nan_in_z_is_not_read_when_beta_is_zero_and_propagates_otherwise():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3000)).astype(np.float32)
    w = rng.standard_normal((3000, 20)).astype(np.float32)
    z = np.full((4, 20), np.nan, np.float32)
    out = np.empty((4, 20), np.float32)
    assert G.small_gemm(np.float32(1), x, w, np.float32(0), z, out)
    assert np.isfinite(out).all()
    assert G.small_gemm(np.float32(1), x, w, np.float32(1), z, out)
    assert np.isnan(out).all()
