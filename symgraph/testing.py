"""Test helpers for op authors: run an op on every backend against its reference.

``check_op`` is what every op test in the suite uses::

    from symgraph.testing import check_op
    check_op(lambda x: T.exp(x), [np.random.rand(3, 4)], ref=np.exp)

It (1) compiles the expression with the py backend (numpy ``perform``) and the numba
backend and compares both with ``ref`` when given, (2) checks that the symbolic shape from
``infer_shape`` matches the real shape, (3) checks dtypes against the declared output
types, and (4) runs ``verify_grad`` for float64 inputs when ``grad=True``.
"""
from __future__ import annotations

import numpy as np

BACKENDS = ("py", "numba")


def sym_for(value, name=None, broadcastable=None):
    """A symbolic variable whose type fits ``value`` (no broadcastable dims unless given)."""
    import symgraph.tensor as T

    value = np.asarray(value)
    bc = broadcastable if broadcastable is not None else (False,) * value.ndim
    return T.tensor(str(value.dtype), bc, name=name)


def run_backends(fn, values, backends=BACKENDS, broadcastable=None, syms=None):
    """Compile ``fn(*syms)`` on each backend and return ``{backend: [outputs]}``."""
    import symgraph

    if syms is None:
        syms = [sym_for(v, f"in{k}", None if broadcastable is None else broadcastable[k])
                for k, v in enumerate(values)]
    outs = fn(*syms)
    single = not isinstance(outs, (list, tuple))
    outs = [outs] if single else list(outs)
    res = {}
    for b in backends:
        f = symgraph.function(syms, outs, mode=b, on_unused_input="ignore")
        res[b] = [np.asarray(r) for r in f(*[np.array(v, copy=True) for v in values])]
    return res, syms, outs


def assert_close(a, b, rtol, atol, what=""):
    a = np.asarray(a)
    b = np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def assert_same_bits(a, b, any_nan=False):
    """``a`` and ``b`` (arrays, scalars, or nested lists/tuples of them) hold the same
    dtypes, shapes and bytes: for code paths that must agree to the bit, not within a
    tolerance (the Numba backend's Python tier and compiled glue).

    ``any_nan``: a NaN matches any NaN, whatever its sign and payload. IEEE 754 leaves
    which NaN an operation on two NaNs returns to the implementation (x86 returns its
    first operand), and LLVM may swap the operands of an addition or a multiplication,
    so two NaNs of opposite signs meeting give a NaN of either sign."""
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_bits(x, y, any_nan)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if any_nan and a.dtype.kind in "fc":
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        assert np.array_equal(nan_a, nan_b)
        a, b = np.where(nan_a, 0, a), np.where(nan_b, 0, b)
    assert a.tobytes() == b.tobytes()


def check_op(fn, values, ref=None, grad=True, backends=BACKENDS, rtol=None, atol=None,
             broadcastable=None, grad_values=None, check_shape=True, eps=None):
    """Check ``fn`` on every backend, its shapes, dtypes and (optionally) its gradient."""
    import symgraph
    from symgraph.gradient import verify_grad
    from symgraph.tensor.shape_inference import shape_tuple

    values = [np.asarray(v) for v in values]
    f32 = any(v.dtype == np.float32 for v in values)
    if rtol is None:
        rtol = 1e-4 if f32 else 1e-7
    if atol is None:
        atol = 1e-5 if f32 else 1e-10
    res, syms, outs = run_backends(fn, values, backends, broadcastable)
    base = res[backends[0]]
    for k, (o, v) in enumerate(zip(outs, base)):
        assert v.dtype == np.dtype(o.type.dtype), (
            f"output {k}: {backends[0]} gave dtype {v.dtype}, type says {o.type.dtype}")
        assert v.ndim == o.type.ndim, f"output {k}: ndim {v.ndim}, type says {o.type.ndim}"
    for b in backends[1:]:
        for k, (x, y) in enumerate(zip(base, res[b])):
            assert y.dtype == x.dtype, f"output {k}: {b} dtype {y.dtype} != {x.dtype}"
            assert_close(y, x, rtol, atol, f"output {k}: backend {b} vs {backends[0]}")
    if ref is not None:
        expected = ref(*[np.array(v, copy=True) for v in values])
        if not isinstance(expected, (list, tuple)):
            expected = [expected]
        for k, (x, e) in enumerate(zip(base, expected)):
            assert_close(x, np.asarray(e, dtype=x.dtype) if np.asarray(e).dtype != x.dtype
                         and np.asarray(e).dtype.kind == x.dtype.kind else e,
                         rtol, atol, f"output {k} vs reference")
    if check_shape:
        import symgraph.tensor as T

        for k, (o, v) in enumerate(zip(outs, base)):
            st = shape_tuple(o)
            if not st:
                continue
            sv = T.stack([T.cast(T.as_tensor_variable(s), "int64") for s in st])
            got = symgraph.function(syms, sv, mode="py", on_unused_input="ignore")(*values)
            assert tuple(int(s) for s in got) == v.shape, (
                f"output {k}: infer_shape gives {tuple(got)}, real shape {v.shape}")
    if grad:
        gv = grad_values if grad_values is not None else values
        if all(np.asarray(v).dtype.kind == "f" for v in gv):
            n_float_outs = [o for o in outs if o.type.dtype.startswith("float")]
            if n_float_outs:
                verify_grad(lambda *xs: _first_float(fn(*xs)), gv, eps=eps)
    return res


def _first_float(out):
    if isinstance(out, (list, tuple)):
        for o in out:
            if o.type.dtype.startswith("float"):
                return o
    return out
