"""Benchmark of the Numba CPU kernels (symgraph.kernels.cpu) against PyTorch CPU.

Run: ``python bench/bench_kernels.py [--rounds R] [--reps N] [--quick] [--batches B ...]
[--out PATH]``

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

The reference is PyTorch CPU (``torch.set_num_threads(2)``) when torch is installed
(``pip install torch==2.13.0``), otherwise the plain-numpy reference implementations in
``symgraph.kernels.cpu.reference``.

Processes. torch is measured in a fresh Python process of its own (this script run
again with the hidden ``--child torch`` option), and symgraph in this process, which
never imports torch. In one shared process torch's OpenMP workers and Numba's OpenMP
threads interfere on a small (2-core) machine and inflate torch's times enormously
(measured: torch's dense forward at batch 10 took 51.5 us alone and 680 us next to
symgraph, which made the ratio look like 0.15 instead of ~2). The child runs first and
prints one JSON line with its per-round medians per case, and writes its outputs for
the same inputs (generated from the same seeds on both sides) to a temporary ``.npz``
file; this process then times symgraph and checks it against those outputs. The ratios
therefore compare medians taken in two processes one after the other, not interleaved:
the machine should be quiet while measuring. The 1-minute load average is recorded
before the child, between the two sides and at the end: numbers taken on a busy machine
(load > ~1.5 on 2 cores) are noisy. The child gets this process's environment (torch
runs with the user's OpenMP settings: symgraph gives its OpenMP spin to its own process
only, ``symgraph/kernels/cpu/threads.py``).
The numpy fallback reference is measured in this process,
alternating by round with symgraph.

Each measurement is the median of ``rounds`` per-round medians of ``reps`` calls (each
round starts with 3 untimed calls). The table and ``bench/results/kernels.json`` give the
per-call times and the ratio symgraph/reference (< 1 means symgraph is faster), both for
the median round and for the fastest round of each side (the latter is the robust figure
on a shared machine). Every case is checked against the reference on the same inputs
(the dense cases to a relative 1e-4), so that both sides are timed doing the same work.
``--quick`` (2 rounds of 5 calls) only checks that the script runs; its times mean
little.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.workloads.common import reference_env  # noqa: E402  (imports no symgraph/torch)

# Nothing here imports symgraph, numba or torch at module level: the torch child must not
# load symgraph / Numba, and the symgraph side (this process) never imports torch.

F, KS, IMG, CLASSES = 20, 5, 28, 10
HIDDEN, FLAT = 100, F * ((IMG - KS + 1) // 2) ** 2  # the dense layers: 2880 -> 100 -> 10
#: issue #5: the dense layers' symgraph/torch time ratio should be at most this, by batch
DENSE_TARGETS = {10: 0.25, 100: 0.7}
DENSE_RTOL = 1e-4
#: the cases of one batch, in the order both processes run them; the rtol of their check
CASES = (("convpool_fwd", 2e-3), ("convpool_fwd_bwd", 2e-3), ("softmax_nll_fwd_bwd", 2e-3),
         ("dense_fwd", DENSE_RTOL), ("dense_fwd_bwd", DENSE_RTOL))


# ------------------------------------------------------------------ symgraph side


def _sg_spin():
    """The GOMP_SPINCOUNT symgraph's threading layer started with (its own or the user's)."""
    from symgraph.kernels.cpu import threads

    return threads.STATE.get("spin") or os.environ.get("GOMP_SPINCOUNT")


@functools.cache
def _sg():
    """symgraph's side, imported on first use (only in the parent process). symgraph comes
    first: importing its kernels starts Numba's threading layer with symgraph's OpenMP
    spin (``symgraph/kernels/cpu/threads.py``) before anything else loads libgomp."""
    import symgraph  # noqa: I001 (first: see the docstring)
    import symgraph.tensor as T
    from numba import njit
    from symgraph.kernels.cpu.conv import conv2d_forward, conv2d_grad_filters
    from symgraph.kernels.cpu.pool import pool2d_backward, pool2d_forward
    from symgraph.kernels.cpu.softmax import softmax_nll_backward, softmax_nll_forward
    from symgraph.tensor.nnet import softmax
    symgraph.config.numba_glue = "compiled"  # timed: the compiled glue, not the Python tier

    @njit
    def layer_fwd(x, w):
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
    def layer_fwd_bwd(x, w, gr):
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
    def nll_fwd_bwd(x, y, gnll):
        nll, sm = softmax_nll_forward(x, y)
        gx = softmax_nll_backward(gnll, sm, y)
        return nll, gx

    return SimpleNamespace(symgraph=symgraph, T=T, softmax=softmax, layer_fwd=layer_fwd,
                           layer_fwd_bwd=layer_fwd_bwd, nll_fwd_bwd=nll_fwd_bwd)


def dense_cost(x, y, w1, b1, w2, b2):
    """The dense layers' cost as network3 writes it (``FullyConnectedLayer`` with ReLU, then
    ``SoftmaxLayer.cost``), so that the compiler's rewrites (softmax + NLL fusion, the
    fused bias + relu) are the ones training gets."""
    T = _sg().T
    h = T.maximum(0.0, T.dot(x, w1) + b1)
    p = _sg().softmax(T.dot(h, w2) + b2)
    return -T.mean(T.log(p)[T.arange(y.shape[0]), y])


def make_symgraph(x, w, gr, xs, y, gnll):
    """The ConvPool and softmax + NLL cases, hand-assembled kernels."""
    sg = _sg()
    return ((lambda: sg.layer_fwd(x, w)), (lambda: sg.layer_fwd_bwd(x, w, gr)),
            (lambda: sg.nll_fwd_bwd(xs, y, gnll)))


def make_symgraph_dense(x, y, params):
    """Compiled (cost) and (cost, grads) functions. The parameters are shared variables
    (``borrow=True``: they stay where they are); the batch and labels are inputs."""
    sg = _sg()
    sw = [sg.symgraph.shared(v, name=n, borrow=True)
          for n, v in zip(("w1", "b1", "w2", "b2"), params)]
    tx, ty = sg.T.fmatrix("x"), sg.T.ivector("y")
    cost = dense_cost(tx, ty, *sw)
    f_fwd = sg.symgraph.function([tx, ty], cost)
    f_fb = sg.symgraph.function([tx, ty], [cost] + sg.T.grad(cost, sw))
    return (lambda: f_fwd(x, y)), (lambda: tuple(f_fb(x, y)))


# ------------------------------------------------------------------ references


def make_torch(x, w, gr, xs, y, gnll):
    import torch
    import torch.nn.functional as TF

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
    import torch
    import torch.nn.functional as TF

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
    from symgraph.kernels.cpu import reference as R

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


def kernel_data(B, rng):
    """The ConvPool and softmax + NLL cases' inputs at batch B, drawn from ``rng`` (one
    generator seeded 0 for all batches, in the order of ``--batches``)."""
    x = rng.standard_normal((B, 1, IMG, IMG)).astype(np.float32)
    w = (rng.standard_normal((F, 1, KS, KS)) * 0.2).astype(np.float32)
    gr = rng.standard_normal((B, F, (IMG - KS + 1) // 2, (IMG - KS + 1) // 2)).astype(
        np.float32)
    xs = (rng.standard_normal((B, CLASSES)) * 3).astype(np.float32)
    y = rng.integers(0, CLASSES, B)
    gnll = np.full(B, 1.0 / B, np.float32)
    return x, w, gr, xs, y, gnll


def batch_data(batches):
    """(B, kernel inputs, dense inputs) per batch, identical in both processes."""
    rng = np.random.default_rng(0)
    for B in batches:
        yield B, kernel_data(B, rng), dense_data(B)


def case_fns(side, kd, dd):
    """The five cases' callables (in ``CASES`` order) of one side for one batch."""
    x, y, params = dd
    if side == "symgraph":
        return make_symgraph(*kd) + make_symgraph_dense(x, y, params)
    make, make_dense = dict(torch=(make_torch, make_torch_dense),
                            numpy=(make_numpy, make_numpy_dense))[side]
    return make(*kd) + make_dense(x, y, [p.copy() for p in params])


# ------------------------------------------------------------------ timing


def _block(fn, reps):
    for _ in range(3):  # wake the thread pools up after the pause (or the other side)
        fn()
    ts = np.empty(reps)
    for i in range(reps):
        t0 = time.perf_counter()
        fn()
        ts[i] = time.perf_counter() - t0
    return float(np.median(ts))


def time_alone(fn, rounds, reps):
    """Per-round medians of ``fn`` alone (the same round structure as ``compare``)."""
    meds = []
    for _ in range(rounds):
        meds.append(_block(fn, reps))
        time.sleep(0.02)
    return meds


def compare(ours, ref, rounds, reps):
    """Per-round medians of both sides, alternating by round (the in-process reference)."""
    mo, mr = [], []
    for _ in range(rounds):
        mo.append(_block(ours, reps))
        time.sleep(0.02)
        mr.append(_block(ref, reps))
        time.sleep(0.02)
    return mo, mr


def _check(ours, ref, what, rtol=2e-3):
    if len(ours) != len(ref):
        raise SystemExit(f"{what}: {len(ours)} symgraph outputs vs {len(ref)} reference ones")
    for a, b in zip(ours, ref):
        if np.asarray(a).dtype != np.float32:  # a float64 graph would be different work
            raise SystemExit(f"{what}: symgraph computed {np.asarray(a).dtype}, not float32")
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        if a.shape != b.shape:
            raise SystemExit(f"{what}: symgraph shape {a.shape} vs reference {b.shape}")
        err = np.max(np.abs(a - b)) / (1e-6 + np.max(np.abs(b)))
        if not err < rtol:
            raise SystemExit(f"{what}: symgraph and the reference disagree (rel err {err:.2e})")


def _as_tuple(o):
    return o if isinstance(o, tuple) else (o,)


def make_row(name, B, mo, mr, target=None):
    """One result row from both sides' per-round medians (seconds). ``target`` is the
    ratio the row should reach, if any."""
    lo, lr = float(np.min(mo)), float(np.min(mr))
    mo, mr = float(np.median(mo)), float(np.median(mr))
    return dict(case=name, batch=B, dtype="float32", symgraph_us=mo * 1e6,
                reference_us=mr * 1e6, ratio=mo / mr,
                symgraph_min_us=lo * 1e6, reference_min_us=lr * 1e6, ratio_best=lo / lr,
                target_ratio=target, meets_target=None if target is None else mo / mr <= target)


# ------------------------------------------------------------------ the torch child


def torch_child(args):
    """``--child torch``: time every case in torch alone (this process never imports
    symgraph or Numba), write its outputs to ``args.child_out`` (.npz, keys
    ``case/batch/i``) and print one JSON line with the per-round medians (seconds)."""
    import torch

    torch.set_num_threads(2)
    for mod in ("symgraph", "numba"):
        if mod in sys.modules:
            raise SystemExit(f"the torch child imported {mod}")
    load0 = os.getloadavg()[0]
    cases, outs = [], {}
    for B, kd, dd in batch_data(args.batches):
        for (name, _), fn in zip(CASES, case_fns("torch", kd, dd)):
            for i, a in enumerate(_as_tuple(fn())):  # also warms torch up
                outs[f"{name}/{B}/{i}"] = np.array(a)
            cases.append(dict(case=name, batch=B,
                              round_medians_s=time_alone(fn, args.rounds, args.reps)))
            print(f"  measured torch {name} batch {B}", file=sys.stderr, flush=True)
    np.savez(args.child_out, **outs)
    print(json.dumps(dict(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                          gomp_spincount=os.environ.get("GOMP_SPINCOUNT"),
                          omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
                          loadavg_before=load0, loadavg_after=os.getloadavg()[0],
                          cases=cases)))


def run_torch_child(args, tmpdir):
    """Run ``torch_child`` in a fresh process; returns its JSON and its outputs."""
    path = os.path.join(tmpdir, "torch_outputs.npz")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "torch",
           "--rounds", str(args.rounds), "--reps", str(args.reps), "--child-out", path,
           "--batches", *map(str, args.batches)]
    # torch gets the user's environment (symgraph's spin stays in this process)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,
                       env=reference_env())  # stderr: progress
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        raise SystemExit(f"the torch child process failed (rc {p.returncode}):\n"
                         f"{p.stdout[-2000:]}")
    info = json.loads(lines[-1])
    with np.load(path) as z:
        outs = {k: z[k] for k in z.files}
    return info, outs


# ------------------------------------------------------------------ parent


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
    ap.add_argument("--child", choices=["torch"], help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.reps = 2, 5
    if args.child == "torch":
        return torch_child(args)

    _sg()  # symgraph first: its OpenMP spin is given to libgomp when Numba loads it
    import numba

    have_torch = importlib.util.find_spec("torch") is not None
    ref_name = "torch" if have_torch else "numpy-reference"
    load0 = os.getloadavg()[0]
    child = None
    if have_torch:
        print("torch, in its own process:", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            child, ref_outs = run_torch_child(args, tmp)
        ref_meds = {(c["case"], c["batch"]): c["round_medians_s"] for c in child["cases"]}
        print("symgraph, in this process:", file=sys.stderr, flush=True)
    load_mid = os.getloadavg()[0]

    rows = []
    for B, kd, dd in batch_data(args.batches):
        refs = None if have_torch else case_fns("numpy", kd, dd)
        for i, ((name, rtol), ours) in enumerate(zip(CASES, case_fns("symgraph", kd, dd))):
            what = f"{name} batch {B}"
            out = _as_tuple(ours())  # also compiles / warms symgraph up
            if have_torch:
                n = sum(1 for k in ref_outs if k.startswith(f"{name}/{B}/"))
                _check(out, [ref_outs[f"{name}/{B}/{j}"] for j in range(n)], what, rtol)
                mo, mr = time_alone(ours, args.rounds, args.reps), ref_meds[(name, B)]
            else:
                _check(out, _as_tuple(refs[i]()), what, rtol)
                mo, mr = compare(ours, refs[i], args.rounds, args.reps)
            target = DENSE_TARGETS.get(B) if have_torch and name.startswith("dense") else None
            rows.append(make_row(name, B, mo, mr, target))  # the bounds are vs torch
            print(f"  measured {what}", file=sys.stderr, flush=True)
    load1 = os.getloadavg()[0]
    if "torch" in sys.modules:  # something imported it: the times may be disturbed again
        print("warning: torch got imported into symgraph's process", file=sys.stderr)

    how = ("torch measured first in its own process, then symgraph in this one"
           if have_torch else "sides alternating by round in one process")
    print(f"\nsymgraph (kernels; dense: compiled functions) vs {ref_name} (float32, median, "
          f"{args.rounds} rounds x {args.reps} reps; {how}; load avg {load0:.2f} -> "
          f"{load_mid:.2f} -> {load1:.2f})")
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
    if max(load0, load_mid, load1) > 1.5:
        print("warning: the machine was busy while measuring; the numbers are noisy")

    info = dict(reference=ref_name, rounds=args.rounds, reps=args.reps, quick=args.quick,
                reference_own_process=have_torch, reference_process=how,
                loadavg_before=load0, loadavg_between=load_mid, loadavg_after=load1,
                python=platform.python_version(), numpy=np.__version__,
                numba=numba.__version__,
                torch=None if child is None else child["torch"],
                torch_threads=None if child is None else child["torch_threads"],
                numba_threads=numba.config.NUMBA_NUM_THREADS,
                cpu_count=os.cpu_count(), machine=platform.machine(),
                gomp_spincount=_sg_spin(),
                reference_gomp_spincount=None if child is None else child["gomp_spincount"],
                results=rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(info, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
