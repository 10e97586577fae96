"""200 different small training functions in one process: the Numba backend against the
py backend (numpy reference implementations), total time to build, compile and call each
function once.

Why: a layer library's test suite, a notebook session or a hyper-parameter search builds
many small graphs from the same few ops (dense, conv, pool, dropout, nonlinearities, SGD
/ momentum / Adam updates) at varied sizes. What that costs depends on how much compiled
code one graph can reuse from the ones before (issue 20: at most 3x the py backend).

Each backend runs in a fresh process on an empty cache directory unless ``--cache`` names
one; the kernels of symgraph itself (``symgraph.kernels``, the backend's helpers) stay in
their usual caches, so this is the "new graphs, known op kinds" case. Same programs,
same order, same data in both processes (seeded).

Usage::

    python bench/many_functions.py [--n 200] [--backends numba,py]

Writes ``bench/results/many_functions.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ACTS = ("relu", "sigmoid", "tanh", "softplus")
RULES = ("sgd", "momentum", "adam")


def _program(i, rng):
    """The i-th program's description (a dict of plain values)."""
    return {"kind": ("dense", "conv", "dropout")[i % 3],
            "act": ACTS[int(rng.integers(len(ACTS)))],
            "rule": RULES[int(rng.integers(len(RULES)))],
            "batch": int(rng.choice([8, 16])),
            "n_in": int(rng.choice([20, 36, 64])),
            "n_hidden": int(rng.choice([16, 32])),
            "lr": float(rng.choice([0.01, 0.03, 0.1]))}


def _build(p, mode):
    import numpy as np

    import symgraph as theano
    import symgraph.tensor as T
    from symgraph.tensor.nnet import conv
    from symgraph.tensor.signal import pool

    r = np.random.default_rng(0)
    f32 = "float32"
    x, y = T.fmatrix("x"), T.ivector("y")
    act = {"relu": T.nnet.relu, "sigmoid": T.nnet.sigmoid, "tanh": T.tanh,
           "softplus": T.nnet.softplus}[p["act"]]
    params = []

    def shared(shape, name):
        v = theano.shared((r.standard_normal(shape) * 0.1).astype(f32), name=name)
        params.append(v)
        return v

    b, n_in, n_h = p["batch"], p["n_in"], p["n_hidden"]
    if p["kind"] == "conv":
        side = int(round(n_in ** 0.5))
        n_in = side * side
        w = shared((4, 1, 3, 3), "w")
        img = x.reshape((b, 1, side, side))
        h = pool.pool_2d(act(conv.conv2d(img, w, image_shape=(b, 1, side, side),
                                         filter_shape=(4, 1, 3, 3))),
                         ws=(2, 2), ignore_border=True)
        h = h.flatten(2)
        n_feat = 4 * ((side - 2) // 2) ** 2
    else:
        w = shared((n_in, n_h), "w")
        h = act(T.dot(x, w) + shared((n_h,), "b"))
        if p["kind"] == "dropout":
            from symgraph.tensor.shared_randomstreams import RandomStreams

            keep = RandomStreams(1).binomial(h.shape, p=0.8, dtype=f32)
            h = h * keep / 0.8
        n_feat = n_h
    v = shared((n_feat, 10), "v")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(h, v)), y).mean()
    grads = T.grad(cost, params)
    updates = []
    lr = np.float32(p["lr"])
    for prm, g in zip(params, grads):
        if p["rule"] == "sgd":
            updates.append((prm, prm - lr * g))
        elif p["rule"] == "momentum":
            vel = theano.shared(np.zeros(prm.get_value().shape, f32))
            updates += [(vel, np.float32(0.9) * vel - lr * g), (prm, prm + vel)]
        else:
            m = theano.shared(np.zeros(prm.get_value().shape, f32))
            s = theano.shared(np.zeros(prm.get_value().shape, f32))
            m2 = np.float32(0.9) * m + np.float32(0.1) * g
            s2 = np.float32(0.999) * s + np.float32(0.001) * g * g
            updates += [(m, m2), (s, s2),
                        (prm, prm - lr * m2 / (T.sqrt(s2) + np.float32(1e-8)))]
    f = theano.function([x, y], cost, updates=updates, mode=mode)
    data = (r.random((b, n_in), dtype=np.float32), r.integers(0, 10, b).astype(np.int32))
    return f, data


def child(backend, n, seed):
    import numpy as np

    import symgraph  # noqa: F401 - imports are not timed
    rng = np.random.default_rng(seed)
    programs = [_program(i, rng) for i in range(n)]
    mode = "py" if backend == "py" else None
    t0 = time.perf_counter()
    for p in programs:
        f, (xv, yv) = _build(p, mode)
        c = float(f(xv, yv))
        assert np.isfinite(c), (p, c)
    return {"backend": backend, "n": n, "total_s": time.perf_counter() - t0}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--backends", default="numba,py")
    ap.add_argument("--cache", help="cache directory for the numba run (default: a new one)")
    ap.add_argument("--warm", action="store_true",
                    help="first build N other programs (another seed) on the same cache, "
                         "then time these: new graphs made of op kinds compiled before")
    ap.add_argument("--seed", type=int, default=20, help=argparse.SUPPRESS)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child, a.n, a.seed)))
        return 0
    rows = []
    for backend in a.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="sg-many-") as d:
            env = dict(os.environ, SYMGRAPH_FLAGS=f"floatX=float32,cache_dir={a.cache or d}",
                       SYMGRAPH_PROGRESS="0")
            seeds = [21, a.seed] if a.warm and backend != "py" else [a.seed]
            for seed in seeds:
                r = subprocess.run([sys.executable, __file__, "--child", backend, "--n",
                                    str(a.n), "--seed", str(seed)],
                                   capture_output=True, text=True, env=env, cwd=REPO)
                if r.returncode:
                    sys.exit(r.stderr[-3000:])
            row = json.loads(r.stdout.splitlines()[-1])
            row["cache"] = "warmed by other programs" if len(seeds) > 1 else "empty"
            rows.append(row)
            print(f"{backend} ({row['cache']} cache): {row['total_s']:.1f} s for {a.n} "
                  "functions", flush=True)
    times = {r["backend"]: r["total_s"] for r in rows}
    if a.warm:
        print(f"(numba: cache warmed by another {a.n} programs first)")
    if "py" in times and "numba" in times:
        print(f"numba / py = {times['numba'] / times['py']:.2f}")
    out = REPO / "bench" / "results" / "many_functions.json"
    out.write_text(json.dumps({"rows": rows, "load": os.getloadavg()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
