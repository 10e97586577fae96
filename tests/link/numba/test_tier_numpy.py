"""Elementwise nodes the Python tier runs as numpy (``link/numba/tier_numpy.py``): the same
bits as their compiled kernels over every special value, the kernel's own errors, and
the cases that run the compiled kernel instead."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.link.numba import tier_numpy
from symgraph.link.numba.tier_numpy import NumpyNode, numpy_program
from symgraph.tensor.elemwise import Elemwise
from symgraph.testing import assert_same_bits


def _special(dtype):
    fi = np.finfo(dtype)
    return np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1.5, 2.5, 3.0, 1e-3, 7.0, -7.5,
                     np.inf, -np.inf, np.nan, fi.smallest_subnormal, -fi.smallest_subnormal,
                     fi.tiny, fi.max, -fi.max, fi.eps, 2.0 ** 31 - 256, -2.0 ** 31],
                    dtype=dtype)


def _outputs(x, y, z, dtype):
    """Every operation ``tier_numpy`` runs, on (n, 1) against (1, n) operands."""
    other = "float64" if dtype == "float32" else "float32"
    c = T.lt(x, y)
    return [x + y, x - y, x * y, x / y, -x, T.sqr(x), abs(y), T.reciprocal(x),
            T.maximum(x, y), T.minimum(x, y), T.maximum(y, 0), T.clip(x, y, z),
            T.sgn(y), T.sqrt(x), T.floor(y), T.ceil(x), T.trunc(y),
            c, T.gt(x, y), T.le(x, y), T.ge(x, y), T.eq(x, y), T.neq(x, y),
            T.switch(c, x, y), T.switch(x, x, y), T.cast(x, other), T.cast(y, "bool"),
            T.cast(c, dtype), T.and_(c, T.gt(y, z)), T.or_(c, T.eq(x, z)),
            T.xor(c, T.ge(y, 1.0)), T.second(x, z), x + y * 2.5 - z,
            (x * y + z) / (y - 0.5), T.maximum(x * y, z) + T.sqr(y)]


def _build(dtype, fuse=True, mode=None):
    x = T.col("x", dtype=dtype)
    y = T.row("y", dtype=dtype)
    z = T.scalar("z", dtype=dtype)
    if mode is None:
        mode = None if fuse else Mode(excluding=["fuse"])
    return symgraph.function([x, y, z], _outputs(x, y, z, dtype), mode=mode)


def _tiered(f):
    f.executable.hold_python_tier()
    return f


def _numpy_nodes(f):
    tier = f.executable.graph_fn.tier
    return [d for d in tier._inline.values() if isinstance(d, NumpyNode)]


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_nodes_give_the_kernels_bits_on_special_values(dtype, fuse, glue):
    """Every supported operation (fused and alone), on all pairs of zeros of both signs,
    infinities, NaN, subnormals, the extremes and ordinary values, broadcast (n, 1)
    against (1, n): the Python tier running them as numpy and the compiled glue running
    their kernels give the same bytes."""
    v = _special(dtype)
    args = (v[:, None].copy(), v[None, :].copy(), np.dtype(dtype).type(0.75))
    glue("tiered")
    f = _tiered(_build(dtype, fuse))
    tier_out = f(*args)
    assert _numpy_nodes(f), "no node ran as numpy"
    glue("compiled")
    g = _build(dtype, fuse)
    assert_same_bits(tier_out, g(*args))



def test_a_numpy_node_needs_no_kernel_on_the_first_call(glue, kernel_calls):
    """A new graph's elementwise nodes run on the tier without their kernels (the
    worker compiles them with the glue)."""
    glue("tiered")
    x = T.fmatrix("x")
    f = _tiered(symgraph.function([x], T.maximum(x * 1.25 + 0.5, 0) - 3.0 * x))
    f(np.ones((3, 4), "float32"))
    assert _numpy_nodes(f) and not kernel_calls


def test_in_place_updates_keep_the_bits_over_steps(glue):
    """An SGD-with-momentum update written in place into shared values, five steps on
    each tier: the parameters are the same bytes."""
    def run(mode):
        glue(mode)
        rng = np.random.default_rng(3)
        W = symgraph.shared(rng.standard_normal((5, 4)).astype("float32"), name="W")
        V = symgraph.shared(np.zeros((5, 4), "float32"), name="V")
        x = T.fmatrix("x")
        cost = T.sum(T.sqr(T.dot(x, W)))
        g = T.grad(cost, W)
        v_new = 0.9 * V - 0.01 * g
        f = symgraph.function([x], cost, updates=[(V, v_new), (W, W + v_new)])
        if mode == "tiered":
            _tiered(f)
        data = rng.standard_normal((3, 5)).astype("float32")
        outs = [f(data * (k + 1)) for k in range(5)]
        return outs, W.get_value(), V.get_value()

    assert_same_bits(run("tiered"), run("compiled"))


def test_a_shape_the_kernel_refuses_raises_its_error(glue, same_error):
    """Two non-broadcastable dimensions that differ: numpy would broadcast a 1, the kernel
    refuses; the tier runs the kernel, and the call raises as the compiled glue does."""
    glue("tiered")
    x, y = T.fmatrix("x"), T.fmatrix("y")
    out = x * y + 1.0
    f = _tiered(symgraph.function([x, y], out))
    a, b = np.ones((3, 4), "float32"), np.ones((1, 4), "float32")
    same_error(f, out, [x, y], (a, b))


def test_out_of_range_float_to_int_runs_the_kernel(glue, kernel_calls):
    """A float converted to an integer beyond its range (or NaN) has no defined value in
    LLVM: the tier runs the compiled kernel for that call, so both tiers agree; in
    range, numpy computes it."""
    calls = kernel_calls
    x = T.fvector("x")
    glue("tiered")
    f = _tiered(symgraph.function([x], T.cast(x * 2.0, "int32")))
    inside = np.array([1.5, -2.7, 1e9, -1e9, 0.0], "float32")
    outside = np.array([1.5, 3e9, np.nan, -np.inf], "float32")
    r_in = f(inside)
    assert not calls
    r_out = f(outside)
    assert calls
    glue("compiled")
    g = symgraph.function([x], T.cast(x * 2.0, "int32"))
    assert_same_bits([r_in, r_out], [g(inside), g(outside)])


def test_overlapping_in_place_operands_run_the_kernel():
    """An in-place output whose memory another operand reads at other positions (a
    shifted view) is declined (the compiled kernel runs: its result depends on its loop
    order); the very same array as both operands is computed."""
    prog = {"ndim": 1, "in": ["float32", "float32"], "out": ["float32"],
            "bcast": [[False], [False]],
            "steps": [("add", (("i", 0), ("i", 1)), ("float32", "float32"),
                       ("float32", "float32"), "float32", "float32")],
            "outputs": [0], "inplace": [(0, 0)]}
    a = np.arange(6, dtype="float32")
    assert tier_numpy.run_arrays(prog, (a[:5], a[1:])) is None
    out = tier_numpy.run_arrays(prog, (a, a))
    assert out[0] is a and np.array_equal(a, np.arange(6, dtype="float32") * 2)


def test_programs_only_for_exact_operations():
    """Transcendentals without a compiled loop (``tier_math.FUNCTIONS``), integer
    arithmetic, complex and float16 values get no program (their kernels run); exact
    float operations, comparisons, casts and the functions with a loop do."""
    x, y = T.dvector("x"), T.dvector("y")
    i, j = T.lvector("i"), T.lvector("j")
    h = T.vector("h", dtype="float16")
    c = T.cvector("c")

    def nodes_of(expr, *ins):
        f = symgraph.function(list(ins), expr, mode=Mode(excluding=["fuse"]))
        nodes = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Elemwise)]
        assert nodes
        return nodes

    def prog(expr, *ins):
        return numpy_program(nodes_of(expr, *ins)[-1])

    u = T.vector("u", dtype="uint64")
    for expr, ins in [(T.arcsin(x), (x,)), (T.erf(x), (x,)), (i + j, (i, j)),
                      (i * 3, (i,)), (c * c, (c,)), (x ** y, (x, y)),
                      (T.cast(u, "float32"), (u,))]:
        assert prog(expr, *ins) is None, expr
    # (a float16 graph is computed in float32 after the optimizer; its node as built:)
    assert numpy_program((h + h).owner) is None
    for expr, ins in [(x + y, (x, y)), (T.maximum(x, y), (x, y)), (T.lt(i, j), (i, j)),
                      (T.cast(i, "float32"), (i,)), (T.cast(x, "int16"), (x,)),
                      (T.switch(T.lt(x, y), x, y), (x, y)), (T.exp(x), (x,)),
                      (T.tanh(x), (x,)), (T.nnet.softplus(x), (x,))]:
        assert prog(expr, *ins) is not None, expr


def test_reshapes_run_as_numpy_with_the_kernels_values_and_errors(glue, kernel_calls,
                                                                  same_error):
    """Reshapes of a contiguous array (a view), of a transpose (a copy) and with a -1 run
    as numpy on the tier, compiling no kernel, with the compiled glue's bytes; so do
    reshapes of inputs of other ranks and dtypes to the same rank, which share one kernel
    (its source names neither); a target that does not fit runs the kernel, which raises
    the compiled glue's error."""
    x, n, z = T.fmatrix("x"), T.lscalar("n"), T.dtensor4("z")
    outs = [x.reshape((-1,)) + 1.0, x.T.reshape((n, -1)) * 2.0,
            x.reshape((2, -1, 3)).sum(axis=1), z.reshape((n, -1)) * 3.0]
    data = np.arange(12, dtype="float32").reshape(3, 4)
    zdata = np.arange(24.0).reshape(2, 3, 2, 2)
    glue("tiered")
    f = _tiered(symgraph.function([x, n, z], outs))
    got = f(data, 6, zdata)
    reshapes = [d for d in _numpy_nodes(f) if d.prog["kind"] == "reshape"]
    assert len(reshapes) == 3 and not kernel_calls   # (two nodes share one kernel)
    assert got[3].shape == (6, 4) and got[3].dtype == np.float64
    same_error(f, outs, [x, n, z], (data, 5, zdata))
    assert kernel_calls   # the misfit ran the kernel, for its error
    assert_same_bits(got, symgraph.function([x, n, z], outs)(data, 6, zdata))   # (glue)
    prog2 = {"kind": "reshape", "ndim": 2}
    flat = np.arange(12.0)
    assert tier_numpy.run_reshape(prog2, flat, np.array([-1, 4])).shape == (3, 4)
    for bad in ([5, -1], [-1, -1], [-2, 6], [0, -1], [2, 6, 1], [2, 5]):
        assert tier_numpy.run_reshape(prog2, flat, np.array(bad)) is None, bad


def _wide(dtype, n=4000):
    """Values of every magnitude the functions meet (and beyond: their overflow and
    underflow edges), both signs, with the special values."""
    rng = np.random.default_rng(11)
    top = 88.0 if dtype == "float32" else 709.0
    mags = np.concatenate([np.exp(rng.uniform(np.log(1e-30), np.log(top * 1.2), n)),
                           rng.uniform(0, 12, n)])
    signs = rng.choice([-1.0, 1.0], mags.size)
    return np.concatenate([mags * signs, _special(dtype).astype("float64")]).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transcendental_steps_give_the_kernels_bits(dtype, glue, kernel_calls):
    """exp, log, log1p, expm1, tanh, sin, cos, sigmoid and softplus (alone, fused with
    arithmetic, and the gradients of sigmoid, tanh and softplus) over 8,000 values of
    every magnitude and the special values: the tier's numpy steps with the functions'
    compiled loops (``tier_math.py``) give the compiled glue's bytes (a NaN's sign
    aside), and no kernel is compiled for the first call."""
    x = T.vector("x", dtype=dtype)
    s = T.nnet.sigmoid(x)
    outs = [T.exp(x), T.log(x), T.log1p(x), T.expm1(x), T.tanh(x), T.sin(x), T.cos(x), s,
            T.nnet.softplus(x), T.exp(x) * 0.5 + T.tanh(x * 3.0), T.log(abs(x) + 1.0) / x,
            T.grad(T.sum(s * x), x), T.grad(T.sum(T.tanh(x) ** 2), x),
            T.grad(T.sum(T.nnet.softplus(x) * 2.0), x)]
    v = _wide(dtype)
    for fuse in (True, False):
        mode = None if fuse else Mode(excluding=["fuse"])
        glue("tiered")
        f = _tiered(symgraph.function([x], outs, mode=mode))
        got = f(v)
        assert _numpy_nodes(f) and not kernel_calls
        glue("compiled")
        # (NaN inputs: a fused gradient multiplies two NaNs of opposite signs, whose
        # product's sign is the compiler's choice of operand order: ``any_nan``)
        assert_same_bits(got, symgraph.function([x], outs, mode=mode)(v), any_nan=True)


def test_math_loops_bind_the_kernels_functions():
    """``tier_math`` calls the functions a generated kernel module binds, by name."""
    from symgraph.link.numba import cache, tier_math
    from symgraph.link.numba.linker import HEADER

    module = cache.load_module("\n".join(HEADER) + "\n")
    for name in tier_math.FUNCTIONS:
        assert getattr(tier_math, f"_sg_{name}") is getattr(module, f"_sg_{name}"), name
