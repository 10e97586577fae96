"""Dot benchmark: a compiled ``T.dot`` (default numba backend) against ``np.dot``.

For each case, float32 matrices ``a`` and ``b`` of the given shapes; symgraph's
``function([x, y], T.dot(x, y))`` is timed against ``np.dot(a, b)`` in the same run, in
short interleaved samples (so machine load affects both alike); the reported times are
medians. The ratio is symgraph / numpy (1.0 = as fast as numpy; the per-call overhead of
a compiled function is included). Numba's ``np.dot`` calls scipy's BLAS, numpy calls its
own: the two libraries may differ in threading and kernels.

Extra rows: ``dot(x.T, y)`` with a transposed operand (BLAS reads it in place, no copy)
and ``z + 0.5 * dot(x, y)``, which the optimizer turns into one ``Gemm``, against the
same numpy expression.

Usage::

    python bench/bench_dot.py               # ~20 s, single-threaded BLAS for both
    python bench/bench_dot.py --quick
    python bench/bench_dot.py --threads 0    # the BLAS libraries' default threading

Prints a table and writes ``bench/results/dot.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "dot.json"
CASES = [((10, 2880), (2880, 100)), ((100, 2880), (2880, 100)), ((100, 100), (100, 10))]


def _per_call(fn, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _compare(ours, ref, check, target_s: float, repeat: int) -> tuple[float, float]:
    """Medians (s per call) of ``ours`` and ``ref`` over interleaved samples."""
    check()
    one = min(_per_call(ours, 3), _per_call(ref, 3))
    number = max(1, int(target_s / max(one, 1e-7)))
    t_ours, t_ref = [], []
    for _ in range(repeat):
        t_ours.append(_per_call(ours, number))
        t_ref.append(_per_call(ref, number))
    return statistics.median(t_ours), statistics.median(t_ref)


def run(repeat: int, target_s: float) -> list[dict]:
    import numpy as np

    import symgraph as theano
    import symgraph.tensor as T
    theano.config.numba_glue = "compiled"  # timed: the compiled glue, not the Python tier

    rng = np.random.default_rng(0)
    rows = []

    def add(name, f, args, ref_fn):
        def ours():
            return f(*args)

        def ref():
            return ref_fn(*args)

        def check():
            r, e = ours(), ref()
            assert r.dtype == e.dtype == np.float32, (r.dtype, e.dtype)
            np.testing.assert_allclose(r, e, rtol=2e-4, atol=2e-3)

        t_ours, t_ref = _compare(ours, ref, check, target_s, repeat)
        rows.append({"case": name, "symgraph_s": t_ours, "numpy_s": t_ref,
                     "ratio": t_ours / t_ref})

    x, y, z = T.fmatrix("x"), T.fmatrix("y"), T.fmatrix("z")
    f_dot = theano.function([x, y], T.dot(x, y))
    for sa, sb in CASES:
        a = rng.standard_normal(sa).astype("float32")
        b = rng.standard_normal(sb).astype("float32")
        add(f"dot {sa}x{sb}", f_dot, (a, b), np.dot)
    # a transposed operand: BLAS reads the F-ordered view in place
    f_t = theano.function([x, y], T.dot(x.T, y))
    at = rng.standard_normal((2880, 100)).astype("float32")
    b = rng.standard_normal((2880, 100)).astype("float32")
    add("dot(x.T, y) (2880,100)^T x (2880,100)", f_t, (at, b), lambda p, q: np.dot(p.T, q))
    # z + 0.5 * dot(x, y): one Gemm after the optimizer
    f_g = theano.function([z, x, y], z + np.float32(0.5) * T.dot(x, y))
    a = rng.standard_normal((100, 2880)).astype("float32")
    b = rng.standard_normal((2880, 100)).astype("float32")
    c = rng.standard_normal((100, 100)).astype("float32")
    add("z + 0.5*dot(x, y) (100,2880)x(2880,100)", f_g, (c, a, b),
        lambda zz, p, q: zz + np.float32(0.5) * np.dot(p, q))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter samples")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads for both libraries (sets OPENBLAS_NUM_THREADS etc. "
                         "before numpy loads; default 1: on a shared machine, threaded "
                         "BLAS calls spin against each other and the timings mean nothing); "
                         "0 keeps the libraries' defaults")
    args = ap.parse_args()
    if args.threads > 0:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    repeat, target_s = (5, 0.02) if args.quick else (21, 0.05)
    rows = run(repeat, target_s)
    print(f"{'case':<44} {'symgraph':>12} {'numpy':>12} {'ratio':>7}")
    for r in rows:
        print(f"{r['case']:<44} {r['symgraph_s'] * 1e6:>10.1f}us {r['numpy_s'] * 1e6:>10.1f}us "
              f"{r['ratio']:>7.2f}")
    import numba
    import numpy as np

    out = {"benchmark": "dot", "machine": platform.platform(), "cpus": os.cpu_count(),
           "load_avg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
           "numpy": np.__version__, "numba": numba.__version__,
           "blas_threads": args.threads if args.threads > 0 else "default",
           "repeat": repeat, "sample_s": target_s, "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
