"""Compile every kernel the CUDA backend launches for the *real* CUDA target, no GPU needed.

The simulator runs kernels as Python, so it cannot tell whether Numba's CUDA compiler
accepts the generated code (typing, unsupported constructs, C helpers that cannot link
on the device) or whether a float32 kernel computes in float64. This script:

* imports ``numba.cuda`` in real (non-simulator) mode and skips the device probe;
* makes device arrays numpy arrays (``HostDeviceArray``) and replaces every kernel launch
  by ``numba.cuda.compiler.compile_cuda`` (typing + lowering to NVVM IR) with the
  argument types of the real call -- kernels do not run, the host code does (shapes,
  views, checks), so every code path of the linker is driven;
* compiles and calls CUDA functions over graphs covering every implemented op;
* flags float32 kernels whose IR contains double-precision arithmetic, and IR that calls
  host-only helpers (``numba_*``), which would not link on a GPU.

Run it in a fresh interpreter *without* ``NUMBA_ENABLE_CUDASIM``; it prints one JSON
object: ``{"compiled": n, "errors": [...], "float64_in_float32": [...],
"host_calls": [...]}``.
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: the shared fakes
import numpy as np  # noqa: E402
from cuda_real_target import HostDeviceArray, errors, install_fakes, records  # noqa: E402


def _install_fakes():
    install_fakes()
    from symgraph.link.cuda import runtime

    runtime.require_device = lambda: None
    runtime.restride = lambda a, shape, strides: np.lib.stride_tricks.as_strided(
        a, tuple(shape), tuple(strides)).view(HostDeviceArray)


def _graphs():
    """(name, inputs, outputs, values, updates) covering every implemented op."""
    import symgraph
    import symgraph.tensor as T
    from symgraph.tensor.nnet import conv2d, crossentropy_softmax_1hot, log_softmax, softmax
    from symgraph.tensor.random import RandomStreams
    from symgraph.tensor.signal.pool import MaxPoolGrad, MaxPoolGradGrad, pool_2d

    rng = np.random.default_rng(0)
    unary = ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "arcsin",
             "arccos", "arctan", "sinh", "cosh", "floor", "ceil", "round_half_to_even",
             "round_half_away_from_zero", "trunc", "abs", "sgn", "sqr", "neg", "reciprocal",
             "sigmoid", "softplus", "log2", "log10", "exp2", "erf", "isnan", "isinf"]
    ai, bi = T.matrix("ai", dtype="int32"), T.matrix("bi", dtype="int64")
    m = T.gt(ai, 0)
    yield ("integers", [ai, bi],
           [ai + bi, ai * 3, T.int_div(ai, bi), T.mod(bi, ai), ai ** 2, bi ** bi, T.and_(ai, bi),
            T.or_(ai, 5), T.xor(ai, bi), T.invert(bi), T.and_(m, T.lt(bi, 4)), T.invert(m),
            T.cast(ai, "float32") * 0.5, T.cast(T.true_div(ai, bi), "int8"), T.abs(ai),
            T.sgn(bi), T.maximum(ai, bi), (-ai).sum(axis=1), T.argmax(-bi, axis=0),
            T.switch(m, ai, bi)],
           [np.arange(1, 13, dtype="int32").reshape(3, 4),
            np.arange(2, 14, dtype="int64").reshape(3, 4)], None, "cuda")
    for dt in ("float32", "float64"):
        x = T.matrix("x", dtype=dt)
        r = T.row("r", dtype=dt)
        s = T.scalar("s", dtype=dt)
        xv = rng.uniform(0.1, 0.9, (3, 4)).astype(dt)
        rv = rng.uniform(0.1, 0.9, (1, 4)).astype(dt)
        nofuse = symgraph.compile.mode.Mode("cuda").excluding("fusion")
        yield (f"unary {dt}", [x], [getattr(T, u)(x) for u in unary], [xv], None, nofuse)
        d = T.exp(x)
        yield (f"binary {dt}", [x, r, s],
               [x + r * s, x / r, x ** r, T.maximum(x, r), T.arctan2(x, r), T.int_div(x, r),
                T.mod(x, r), T.switch(x > r, x, r), T.clip(x, 0.2, 0.5), T.eq(x, r),
                d * d.sum(), d.dimshuffle(1, 0) * s, (d / d.max(axis=1, keepdims=True)),
                T.cast(x, "int32") + 1],
               [xv, rv, np.asarray(0.5, dt)], None, "cuda")
        x3 = T.tensor3("x3", dtype=dt)
        e3 = -x3
        outs = []
        for ax in (None, 0, 1, 2, (0, 2)):
            outs += [e3.sum(axis=ax), e3.prod(axis=ax), e3.max(axis=ax), e3.min(axis=ax),
                     (e3 > 0).all(axis=ax), (e3 > 0).any(axis=ax)]
        for ax in (None, 1):
            outs += [T.argmax(e3, axis=ax), T.argmin(e3, axis=ax)]
        x3v = rng.standard_normal((3, 40, 5)).astype(dt)
        yield (f"reduce {dt}", [x3], outs, [x3v], None, "cuda")
        A, B = T.matrix("A", dtype=dt), T.matrix("B", dtype=dt)
        v = T.vector("v", dtype=dt)
        yield (f"dot {dt}", [A, B, v, s],
               [T.dot(A, B), T.dot(B.T, A.T), T.dot(A, v), T.dot(v, B), T.dot(v, v),
                A * 0.5 + s * T.dot(A, B.T[:, :3].T.T)],
               [rng.standard_normal((3, 3)).astype(dt), rng.standard_normal((3, 3)).astype(dt),
                rng.standard_normal(3).astype(dt), np.asarray(2.0, dt)], None, "cuda")
        xi, w = T.tensor4("xi", dtype=dt), T.tensor4("w", dtype=dt)
        outs = []
        for bm, sub, flip in (("valid", (1, 1), True), ("half", (2, 1), False)):
            y = conv2d(xi, w, border_mode=bm, subsample=sub, filter_flip=flip)
            outs += [y, *T.grad((y * y).sum(), [xi, w])]
        for mode in ("max", "sum", "average_inc_pad", "average_exc_pad"):
            p = pool_2d(T.tanh(xi), ws=(2, 2), ignore_border=True, mode=mode)
            outs += [p, T.grad((p * p).sum(), xi)]
        e = T.exp(xi)
        m = pool_2d(e, ws=(2, 2), ignore_border=False)
        outs += [MaxPoolGrad((2, 2), False)(e, m, m), MaxPoolGradGrad((2, 2), False)(e, m, e)]
        yield (f"conv/pool {dt}", [xi, w], outs,
               [rng.standard_normal((2, 2, 5, 6)).astype(dt),
                rng.standard_normal((3, 2, 3, 2)).astype(dt)], None, "cuda")
        u = T.matrix("u", dtype=dt)
        lab = T.ivector("lab")
        sm, ls = softmax(x), log_softmax(x)
        nll, smx = crossentropy_softmax_1hot(x, lab)
        yield (f"softmax {dt}", [x, u, lab],
               [sm, ls, T.grad((sm * u).sum(), x), T.grad((ls * u).sum(), x), nll, smx,
                T.grad(nll.mean(), x)],
               [xv, xv, np.array([0, 3, 2], "int32")], None, "cuda")
        srng = RandomStreams(seed=1)
        yield (f"random {dt}", [], [srng.uniform((3, 5), dtype=dt), srng.normal((7,), dtype=dt),
                                    srng.binomial((4,), p=0.3), srng.permutation(size=(2,), n=5)],
               [], None, "cuda")
        sh = symgraph.shared(rng.standard_normal((4, 3)).astype(dt), name="sh")
        i, n = T.lscalar("i"), T.lscalar("n")
        yield (f"views/updates {dt}", [i, n],
               [sh[i:i + 2] + 0, sh[i, 1] * 2, sh.reshape((n, -1)) + 1, sh.T.reshape((2, 6)) * 1,
                T.alloc(sh[0, 0], 2, n), T.zeros_like(sh) + sh, T.addbroadcast(sh[:1], 0) * 2,
                sh.shape[0] * 2, (sh[None, ::2, 1:] * 3).sum(), sh[::-1, 1:] * 1.0,
                T.inc_subtensor(sh[::-2, ::-1], 1.0),
                T.set_subtensor(sh[1], sh[0] * 2), T.inc_subtensor(sh[i:, 1:], 1.0),
                T.concatenate([sh, sh * 2], axis=1),
                T.grad((T.concatenate([sh, sh[:1]]) ** 2).sum(), sh)],
               [1, 3], [(sh, sh * 0.5)], "cuda")
        xs, h0 = T.matrix("xs", dtype=dt), T.vector("h0", dtype=dt)
        hs, _ = symgraph.scan(lambda x_, h_: T.tanh(T.dot(x_, A) + T.dot(h_, B)), sequences=xs,
                              outputs_info=h0)
        fib, _ = symgraph.scan(lambda a_, b_: (a_ + b_, symgraph.scan_module.until(b_ > 20)),
                               outputs_info=dict(initial=v, taps=[-2, -1]), n_steps=n)
        yield (f"scan {dt}", [xs, h0, A, B, v, n],
               [hs, fib, *T.grad((hs ** 2).sum(), [xs, h0, A, B])],
               [rng.standard_normal((4, 3)).astype(dt), rng.standard_normal(3).astype(dt),
                rng.standard_normal((3, 3)).astype(dt), rng.standard_normal((3, 3)).astype(dt),
                np.ones(3, dt), 9], None, "cuda")


def _training():
    import symgraph
    from symgraph.nn.layers import ConvPoolLayer, ReLU, SoftmaxLayer
    from symgraph.nn.network import Network

    symgraph.config.floatX = "float32"
    rng = np.random.RandomState(0)
    layers = [ConvPoolLayer((2, 1, 3, 3), (2, 1, 6, 6), (2, 2), activation_fn=ReLU, rng=rng),
              SoftmaxLayer(8, 3)]
    net = Network(layers, 2)
    tx = symgraph.shared(rng.rand(6, 36).astype("float32"))
    ty = symgraph.shared(rng.randint(0, 3, 6).astype("int32"))
    f = net.build_train_fn((tx, ty), 2, 0.1, lmbda=0.1, mode="cuda")
    f(0)
    f(1)
    symgraph.config.floatX = "float64"


def main():
    _install_fakes()
    import symgraph

    driven = []
    for name, ins, outs, vals, upd, mode in _graphs():
        try:
            f = symgraph.function(ins, outs, updates=upd, mode=mode, on_unused_input="ignore")
            f(*vals)
            f(*vals)
            driven.append(name)
        except Exception:  # noqa: BLE001
            errors.append({"graph": name, "error": traceback.format_exc()[-2000:]})
    try:
        _training()
        driven.append("training")
    except Exception:  # noqa: BLE001
        errors.append({"graph": "training", "error": traceback.format_exc()[-2000:]})
    print(json.dumps({
        "compiled": len(records),
        "graphs": driven,
        "errors": errors,
        # float32 kernels (no float64 argument) whose IR computes in double precision
        "float64_in_float32": [f"{r['kernel']} [{r['op']}] {r['args']}" for r in records
                               if r["float32_args"] and not r["float64_args"]
                               and r["double_ir"]],
        "host_calls": [r["kernel"] + ": " + ",".join(r["host_calls"]) for r in records
                       if r["host_calls"]],
    }))


if __name__ == "__main__":
    main()
