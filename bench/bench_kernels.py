"""Benchmark of the Numba CPU kernels (symgraph.kernels.cpu) against PyTorch CPU.

Run: ``python bench/bench_kernels.py [--rounds R] [--reps N] [--quick] [--out PATH]``

Times, in float32, for batches 10 and 100:

* the MNIST ConvPool layer forward: conv (20 filters 1x5x5 on 28x28, no bias) ->
  max-pool 2x2 -> relu;
* the same layer forward + backward (gradient wrt the filters, as when training the
  first layer; the input needs no gradient);
* softmax + negative log-likelihood forward + backward on (batch, 10);
* the network's dense layers (issue #5): FC 2880->100 (ReLU) -> FC 100->10 -> softmax
  negative log-likelihood of integer labels, mean over the batch. ``dense_fwd`` computes
  the cost, ``dense_fwd_bwd`` the cost and its gradients wrt the four parameters.

For the ConvPool and softmax cases the symgraph side is written the way the graph
compiler emits it: one ``@njit`` function calling the kernels, with the elementwise
relu / relu-mask as plain loops. The dense cases go through the compiler itself: the
cost and ``T.grad`` of it compiled by ``symgraph.function``, with the parameters as
shared variables (they stay in place between calls, as in training); only the input
batch and the labels are passed per call. Their targets from issue #5 (time ratio at
most 0.25 at batch 10 and 0.7 at batch 100) are printed and stored next to the ratios.
The reference is PyTorch CPU (``torch.set_num_threads(2)``, same process) when torch
is importable (``pip install torch==2.13.0``), otherwise the plain-numpy reference
implementations in ``symgraph.kernels.cpu.reference``.

Each measurement is the median of ``rounds`` per-round medians of ``reps`` calls; the
two sides alternate by round so that drifting machine load hits both. The table and
``bench/results/kernels.json`` give the per-call times and the ratio symgraph/reference
(< 1 means symgraph is faster), both for the median round and for the fastest round of
each side (the latter is the robust figure on a shared machine). The 1-minute load
average is recorded: numbers taken on a busy machine (load > ~1.5 on 2 cores) are noisy.
Every case is first checked against the reference on the same inputs (the dense cases to
a relative 1e-4), so that both sides are timed doing the same work. ``--quick`` (2 rounds
of 5 calls) only checks that the script runs; its times mean little.
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

import symgraph  # noqa: E402
import symgraph.tensor as T  # noqa: E402
from symgraph.tensor.nnet import softmax  # noqa: E402

F, KS, IMG, CLASSES = 20, 5, 28, 10
HIDDEN, FLAT = 100, F * ((IMG - KS + 1) // 2) ** 2  # the dense layers: 2880 -> 100 -> 10
#: issue #5: the dense layers' symgraph/torch time ratio should be at most this, by batch
DENSE_TARGETS = {10: 0.25, 100: 0.7}
DENSE_RTOL = 1e-4


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


def dense_cost(x, y, w1, b1, w2, b2):
    """The dense layers' cost as network3 writes it (``FullyConnectedLayer`` with ReLU, then
    ``SoftmaxLayer.cost``), so that the compiler's rewrites (softmax + NLL fusion, the
    fused bias + relu) are the ones training gets."""
    h = T.maximum(0.0, T.dot(x, w1) + b1)
    p = softmax(T.dot(h, w2) + b2)
    return -T.mean(T.log(p)[T.arange(y.shape[0]), y])


def make_symgraph_dense(x, y, params):
    """Compiled (cost) and (cost, grads) functions. The parameters are shared variables
    (``borrow=True``: they stay where they are); the batch and labels are inputs."""
    sw = [symgraph.shared(v, name=n, borrow=True) for n, v in zip(("w1", "b1", "w2", "b2"),
                                                                   params)]
    tx, ty = T.fmatrix("x"), T.ivector("y")
    cost = dense_cost(tx, ty, *sw)
    f_fwd = symgraph.function([tx, ty], cost)
    f_fb = symgraph.function([tx, ty], [cost] + T.grad(cost, sw))
    return (lambda: f_fwd(x, y)), (lambda: tuple(f_fb(x, y)))


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


def make_torch_dense(x, y, params):
    """The same dense layers in eager PyTorch: ``cross_entropy`` (log-softmax + NLL, mean)
    for the cost, autograd ``.backward()`` for the gradients."""
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    ps = [torch.from_numpy(v).requires_grad_(True) for v in params]

    def cost():
        w1, b1, w2, b2 = ps
        return TF.cross_entropy(torch.relu(tx @ w1 + b1) @ w2 + b2, ty)

    def fwd():
        with torch.no_grad():
            return cost().numpy()

    def fwd_bwd():
        for p in ps:
            p.grad = None
        loss = cost()
        loss.backward()
        return (loss.detach().numpy(),) + tuple(p.grad.numpy() for p in ps)

    return fwd, fwd_bwd


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


def _numpy_dense_fwd(x, y, w1, b1, w2, b2):
    h = np.maximum(x @ w1 + b1, 0)
    z = h @ w2 + b2
    z = z - z.max(axis=1, keepdims=True)
    lsm = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -lsm[np.arange(len(y)), y].mean(dtype=np.float32), h, lsm


def make_numpy_dense(x, y, params):
    """Plain-numpy dense layers (the fallback reference when torch is missing)."""

    def fwd():
        return _numpy_dense_fwd(x, y, *params)[0]

    def fwd_bwd():
        w1, b1, w2, b2 = params
        cost, h, lsm = _numpy_dense_fwd(x, y, *params)
        gz = np.exp(lsm)
        gz[np.arange(len(y)), y] -= 1
        gz /= len(y)
        gh = (gz @ w2.T) * (h > 0)
        return cost, x.T @ gh, gh.sum(axis=0), h.T @ gz, gz.sum(axis=0)

    return fwd, fwd_bwd


def dense_data(B, seed=1):
    """Input batch (non-negative, like the ConvPool layer's ReLU output), int32 labels and
    the four parameters, with network3's weight scales; the output layer is random rather
    than network3's zeros so that every gradient is non-trivial in the check. Own seed:
    the other cases' data stay as they were."""
    rng = np.random.default_rng(seed)
    x = rng.random((B, FLAT), dtype=np.float32)
    y = rng.integers(0, CLASSES, B).astype(np.int32)
    params = [(rng.standard_normal((FLAT, HIDDEN)) * np.sqrt(1.0 / HIDDEN)).astype(np.float32),
              rng.standard_normal(HIDDEN).astype(np.float32),
              (rng.standard_normal((HIDDEN, CLASSES)) * np.sqrt(1.0 / CLASSES)).astype(
                  np.float32),
              rng.standard_normal(CLASSES).astype(np.float32)]
    return x, y, params


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
    if len(ours) != len(ref):
        raise SystemExit(f"{what}: {len(ours)} symgraph outputs vs {len(ref)} reference ones")
    for a, b in zip(ours, ref):
        if np.asarray(a).dtype != np.float32:  # a float64 graph would be different work
            raise SystemExit(f"{what}: symgraph computed {np.asarray(a).dtype}, not float32")
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        err = np.max(np.abs(a - b)) / (1e-6 + np.max(np.abs(b)))
        if not err < rtol:
            raise SystemExit(f"{what}: symgraph and the reference disagree (rel err {err:.2e})")


def _as_tuple(o):
    return o if isinstance(o, tuple) else (o,)


def measure(name, B, ours, ref, args, rtol=2e-3, target=None):
    """One result row: check that both sides agree (this also compiles / warms them up),
    then time them alternately. ``target`` is the ratio the row should reach, if any."""
    _check(_as_tuple(ours()), _as_tuple(ref()), f"{name} batch {B}", rtol)
    mo, mr, lo, lr = compare(ours, ref, args.rounds, args.reps)
    print(f"  measured {name} batch {B}", file=sys.stderr, flush=True)
    return dict(case=name, batch=B, dtype="float32", symgraph_us=mo * 1e6,
                reference_us=mr * 1e6, ratio=mo / mr,
                symgraph_min_us=lo * 1e6, reference_min_us=lr * 1e6, ratio_best=lo / lr,
                target_ratio=target, meets_target=None if target is None else mo / mr <= target)


def kernel_rows(B, rng, args):
    """The ConvPool layer and softmax + NLL cases (hand-assembled kernels) at batch B."""
    x = rng.standard_normal((B, 1, IMG, IMG)).astype(np.float32)
    w = (rng.standard_normal((F, 1, KS, KS)) * 0.2).astype(np.float32)
    gr = rng.standard_normal((B, F, (IMG - KS + 1) // 2, (IMG - KS + 1) // 2)).astype(
        np.float32)
    xs = (rng.standard_normal((B, CLASSES)) * 3).astype(np.float32)
    y = rng.integers(0, CLASSES, B)
    gnll = np.full(B, 1.0 / B, np.float32)
    make = make_torch if torch is not None else make_numpy
    r_fwd, r_fb, r_nll = make(x, w, gr, xs, y, gnll)
    return [measure("convpool_fwd", B, lambda: sg_layer_fwd(x, w), r_fwd, args),
            measure("convpool_fwd_bwd", B, lambda: sg_layer_fwd_bwd(x, w, gr), r_fb, args),
            measure("softmax_nll_fwd_bwd", B, lambda: sg_nll_fwd_bwd(xs, y, gnll), r_nll,
                    args)]


def dense_rows(B, args):
    """The dense layers (compiled symgraph functions) at batch B, with issue #5's target."""
    x, y, params = dense_data(B)
    s_fwd, s_fb = make_symgraph_dense(x, y, params)
    make = make_torch_dense if torch is not None else make_numpy_dense
    r_fwd, r_fb = make(x, y, [p.copy() for p in params])
    target = DENSE_TARGETS.get(B) if torch is not None else None  # the bounds are vs torch
    return [measure("dense_fwd", B, s_fwd, r_fwd, args, DENSE_RTOL, target),
            measure("dense_fwd_bwd", B, s_fb, r_fb, args, DENSE_RTOL, target)]


def _target(row):
    t = row["target_ratio"]
    return "" if t is None else f"<={t:g}" + ("" if row["meets_target"] else "*")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--quick", action="store_true",
                    help="2 rounds x 5 reps: checks that everything runs, times are noise")
    ap.add_argument("--batches", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "results", "kernels.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.reps = 2, 5

    ref_name = "torch" if torch is not None else "numpy-reference"
    if torch is not None:
        torch.set_num_threads(2)
    load0 = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    rows = []
    for B in args.batches:
        rows += kernel_rows(B, rng, args)
        rows += dense_rows(B, args)
    load1 = os.getloadavg()[0]

    print(f"\nsymgraph (kernels; dense: compiled functions) vs {ref_name} (float32, median, "
          f"{args.rounds} rounds x {args.reps} reps; load avg {load0:.2f} -> {load1:.2f})")
    hdr = (f"{'case':<22}{'batch':>6}{'symgraph us':>13}{ref_name + ' us':>13}{'ratio':>8}"
           f"   |{'best sg us':>12}{'best ref us':>13}{'ratio':>8}   |{'target':>8}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['case']:<22}{r['batch']:>6}{r['symgraph_us']:>13.1f}"
              f"{r['reference_us']:>13.1f}{r['ratio']:>8.3f}   |"
              f"{r['symgraph_min_us']:>12.1f}{r['reference_min_us']:>13.1f}"
              f"{r['symgraph_min_us'] / r['reference_min_us']:>8.3f}   |{_target(r):>8}")
    print("(left: median of the per-round medians; right: the fastest round of each side;"
          " target: issue #5's bound on the ratio, '*' where the median ratio misses it)")
    if max(load0, load1) > 1.5:
        print("warning: the machine was busy while measuring; the numbers are noisy")

    info = dict(reference=ref_name, rounds=args.rounds, reps=args.reps, quick=args.quick,
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
