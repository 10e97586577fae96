"""Benchmark of the Numba CPU kernels (symgraph.kernels.cpu) against PyTorch CPU.

Run: ``python bench/bench_kernels.py [--rounds R] [--reps N] [--out PATH]``

Times, in float32, for batches 10 and 100:

* the MNIST ConvPool layer forward: conv (20 filters 1x5x5 on 28x28, no bias) ->
  max-pool 2x2 -> relu;
* the same layer forward + backward (gradient wrt the filters, as when training the
  first layer; the input needs no gradient);
* softmax + negative log-likelihood forward + backward on (batch, 10).

The symgraph side is written the way the graph compiler emits it: one ``@njit``
function calling the kernels, with the elementwise relu / relu-mask as plain loops.
The reference is PyTorch CPU (``torch.set_num_threads(2)``, same process) when torch
is importable (``pip install torch==2.13.0``), otherwise the plain-numpy reference
implementations in ``symgraph.kernels.cpu.reference``.

Each measurement is the median of ``rounds`` per-round medians of ``reps`` calls; the
two sides alternate by round so that drifting machine load hits both. The table and
``bench/results/kernels.json`` give the per-call times and the ratio symgraph/reference
(< 1 means symgraph is faster), both for the median round and for the fastest round of
each side (the latter is the robust figure on a shared machine). The 1-minute load
average is recorded: numbers taken on a busy machine (load > ~1.5 on 2 cores) are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

# symgraph.kernels.cpu sets GOMP_SPINCOUNT (see its docstring) and must come before
# torch: torch loads its own libgomp.so.1 globally and Numba's OpenMP pool then binds to
# that copy, which reads the environment once, when torch is imported. Both sides thus
# run on the same OpenMP runtime with the same settings.
import symgraph.kernels.cpu  # noqa: E402,F401,I001

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # pragma: no cover - depends on the machine
    torch = None

from numba import njit  # noqa: E402
from symgraph.kernels.cpu import reference as R  # noqa: E402
from symgraph.kernels.cpu.conv import (  # noqa: E402
    conv2d_forward,
    conv2d_grad_filters,
)
from symgraph.kernels.cpu.pool import pool2d_backward, pool2d_forward  # noqa: E402
from symgraph.kernels.cpu.softmax import (  # noqa: E402
    softmax_nll_backward,
    softmax_nll_forward,
)

F, KS, IMG, CLASSES = 20, 5, 28, 10


# ------------------------------------------------------------------ symgraph side


@njit
def sg_layer_fwd(x, w):
    c = conv2d_forward(x, w, 0, 0, 1, 1, True)
    p = pool2d_forward(c, 2, 2, 2, 2, 0, 0, True, 0)
    r = np.empty_like(p)
    pf = p.reshape(-1)
    rf = r.reshape(-1)
    z = p.dtype.type(0)
    for i in range(pf.size):
        rf[i] = max(pf[i], z)
    return r


@njit
def sg_layer_fwd_bwd(x, w, gr):
    c = conv2d_forward(x, w, 0, 0, 1, 1, True)
    p = pool2d_forward(c, 2, 2, 2, 2, 0, 0, True, 0)
    r = np.empty_like(p)
    gp = np.empty_like(p)
    pf = p.reshape(-1)
    rf = r.reshape(-1)
    gf = gr.reshape(-1)
    gpf = gp.reshape(-1)
    z = p.dtype.type(0)
    for i in range(pf.size):
        v = pf[i]
        pos = v > z
        rf[i] = v if pos else z
        gpf[i] = gf[i] if pos else z
    gc = pool2d_backward(c, p, gp, 2, 2, 2, 2, 0, 0, True, 0)
    gw = conv2d_grad_filters(x, gc, KS, KS, 0, 0, 1, 1, True)
    return r, gw


@njit
def sg_nll_fwd_bwd(x, y, gnll):
    nll, sm = softmax_nll_forward(x, y)
    gx = softmax_nll_backward(gnll, sm, y)
    return nll, gx


# ------------------------------------------------------------------ references


def make_torch(x, w, gr, xs, y, gnll):
    tx = torch.from_numpy(x)
    # symgraph convolves (flip=True); torch cross-correlates: give it the flipped filters
    tw = torch.from_numpy(np.ascontiguousarray(w[:, :, ::-1, ::-1])).requires_grad_(True)
    tg = torch.from_numpy(gr)
    txs = torch.from_numpy(xs).requires_grad_(True)
    ty = torch.from_numpy(y)
    tgn = torch.from_numpy(gnll)

    def fwd():
        with torch.no_grad():
            return torch.relu(TF.max_pool2d(TF.conv2d(tx, tw), 2)).numpy()

    def fwd_bwd():
        tw.grad = None
        out = torch.relu(TF.max_pool2d(TF.conv2d(tx, tw), 2))
        out.backward(tg)
        return out.detach().numpy(), tw.grad.numpy()[:, :, ::-1, ::-1]

    def nll():
        txs.grad = None
        loss = TF.cross_entropy(txs, ty, reduction="none")
        loss.backward(tgn)
        return loss.detach().numpy(), txs.grad.numpy()

    return fwd, fwd_bwd, nll


def make_numpy(x, w, gr, xs, y, gnll):
    def fwd():
        c = R.conv2d_forward_ref(x, w, 0, 0, 1, 1, True)
        return np.maximum(R.pool2d_forward_ref(c, 2, 2, 2, 2, 0, 0, True, 0), 0)

    def fwd_bwd():
        c = R.conv2d_forward_ref(x, w, 0, 0, 1, 1, True)
        p = R.pool2d_forward_ref(c, 2, 2, 2, 2, 0, 0, True, 0)
        r = np.maximum(p, 0)
        gc = R.pool2d_backward_ref(c, p, gr * (p > 0), 2, 2, 2, 2, 0, 0, True, 0)
        return r, R.conv2d_grad_filters_ref(x, gc, KS, KS, 0, 0, 1, 1, True)

    def nll():
        n, sm = R.softmax_nll_forward_ref(xs, y)
        return n, R.softmax_nll_backward_ref(gnll, sm, y)

    return fwd, fwd_bwd, nll


# ------------------------------------------------------------------ timing


def _block(fn, reps):
    for _ in range(3):  # wake the thread pools up after the other side ran
        fn()
    ts = np.empty(reps)
    for i in range(reps):
        t0 = time.perf_counter()
        fn()
        ts[i] = time.perf_counter() - t0
    return float(np.median(ts))


def compare(ours, ref, rounds, reps):
    mo, mr = [], []
    for _ in range(rounds):
        mo.append(_block(ours, reps))
        time.sleep(0.02)
        mr.append(_block(ref, reps))
        time.sleep(0.02)
    return float(np.median(mo)), float(np.median(mr)), float(np.min(mo)), float(np.min(mr))


def _check(ours, ref, what, rtol=2e-3):
    for a, b in zip(ours, ref):
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        err = np.max(np.abs(a - b)) / (1e-6 + np.max(np.abs(b)))
        if not err < rtol:
            raise SystemExit(f"{what}: symgraph and the reference disagree (rel err {err:.2e})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--batches", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "results", "kernels.json"))
    args = ap.parse_args(argv)

    ref_name = "torch" if torch is not None else "numpy-reference"
    if torch is not None:
        torch.set_num_threads(2)
    load0 = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    rows = []
    for B in args.batches:
        x = rng.standard_normal((B, 1, IMG, IMG)).astype(np.float32)
        w = (rng.standard_normal((F, 1, KS, KS)) * 0.2).astype(np.float32)
        gr = rng.standard_normal((B, F, (IMG - KS + 1) // 2, (IMG - KS + 1) // 2)).astype(
            np.float32)
        xs = (rng.standard_normal((B, CLASSES)) * 3).astype(np.float32)
        y = rng.integers(0, CLASSES, B)
        gnll = np.full(B, 1.0 / B, np.float32)
        make = make_torch if torch is not None else make_numpy
        r_fwd, r_fb, r_nll = make(x, w, gr, xs, y, gnll)
        cases = [
            ("convpool_fwd", lambda: sg_layer_fwd(x, w), r_fwd),
            ("convpool_fwd_bwd", lambda: sg_layer_fwd_bwd(x, w, gr), r_fb),
            ("softmax_nll_fwd_bwd", lambda: sg_nll_fwd_bwd(xs, y, gnll), r_nll),
        ]
        for name, ours, ref in cases:
            o, r = ours(), ref()  # compile / warm up, and check the results agree
            _check(o if isinstance(o, tuple) else (o,), r if isinstance(r, tuple) else (r,),
                   f"{name} batch {B}")
            mo, mr, lo, lr = compare(ours, ref, args.rounds, args.reps)
            rows.append(dict(case=name, batch=B, dtype="float32", symgraph_us=mo * 1e6,
                             reference_us=mr * 1e6, ratio=mo / mr,
                             symgraph_min_us=lo * 1e6, reference_min_us=lr * 1e6,
                             ratio_best=lo / lr))
            print(f"  measured {name} batch {B}", file=sys.stderr, flush=True)
    load1 = os.getloadavg()[0]

    print(f"\nsymgraph.kernels.cpu vs {ref_name} (float32, median per call, "
          f"{args.rounds} rounds x {args.reps} reps; load avg {load0:.2f} -> {load1:.2f})")
    hdr = (f"{'case':<22}{'batch':>6}{'symgraph us':>13}{ref_name + ' us':>13}{'ratio':>8}"
           f"   |{'best sg us':>12}{'best ref us':>13}{'ratio':>8}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['case']:<22}{r['batch']:>6}{r['symgraph_us']:>13.1f}"
              f"{r['reference_us']:>13.1f}{r['ratio']:>8.3f}   |"
              f"{r['symgraph_min_us']:>12.1f}{r['reference_min_us']:>13.1f}"
              f"{r['symgraph_min_us'] / r['reference_min_us']:>8.3f}")
    print("(left: median of the per-round medians; right: the fastest round of each side)")
    if max(load0, load1) > 1.5:
        print("warning: the machine was busy while measuring; the numbers are noisy")

    info = dict(reference=ref_name, rounds=args.rounds, reps=args.reps,
                loadavg_before=load0, loadavg_after=load1,
                python=platform.python_version(), numpy=np.__version__,
                numba=__import__("numba").__version__,
                torch=None if torch is None else torch.__version__,
                torch_threads=None if torch is None else torch.get_num_threads(),
                numba_threads=__import__("numba").config.NUMBA_NUM_THREADS,
                cpu_count=os.cpu_count(), machine=platform.machine(),
                gomp_spincount=os.environ.get("GOMP_SPINCOUNT"),
                results=rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(info, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
