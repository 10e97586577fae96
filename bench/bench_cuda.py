"""Time MNIST ConvPool training steps: symgraph on the GPU vs symgraph on the CPU vs PyTorch.

The network is network3's MNIST ConvPool model: conv 20 filters 5x5 on (batch, 1, 28, 28)
+ max pool 2x2 + ReLU -> dense 2880 -> 100 ReLU -> softmax 10, float32, SGD (eta 0.1,
L2 0.1) over mini-batches of a shared dataset (``givens`` slices, as ``Network.SGD``
does). One step = forward + backward + parameter updates + reading the cost back, for

* ``symgraph cuda``: ``mode='cuda'`` (parameters and data stay on the GPU);
* ``symgraph cpu``: ``mode='numba'`` (the default CPU backend);
* ``torch cuda``: the same model in PyTorch on the GPU (when torch with CUDA imports),
  data on the GPU, ``loss.item()`` each step.

Usage::

    python bench/bench_cuda.py                      # needs a CUDA GPU
    python bench/bench_cuda.py --batches 10 100 --steps 50
    python bench/bench_cuda.py --simulator          # smoke test: tiny net, timings meaningless

Prints a table (ms per step, and the ratios cpu/cuda and cuda/torch) and writes
``bench/results/cuda.json``. Without a GPU it exits with status 2 and says so (unless
``--simulator``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "cuda.json"

MNIST = {"image": 28, "filters": 20, "ksize": 5, "hidden": 100, "classes": 10}
TINY = {"image": 8, "filters": 2, "ksize": 3, "hidden": 4, "classes": 3}  # --simulator


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, nargs="+", default=[10, 100])
    p.add_argument("--steps", type=int, default=30, help="timed steps per backend (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compile, caches)")
    p.add_argument("--no-cpu", action="store_true", help="skip the symgraph CPU backend")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    p.add_argument("--simulator", action="store_true",
                   help="Numba's CUDA simulator, tiny network: checks the script runs")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def _data(net, n, np):
    """MNIST images (the bundled sample) cropped/resized to the net, or random for tiny."""
    rng = np.random.default_rng(0)
    if net["image"] == 28:
        from symgraph.datasets.mnist import load_data

        (x, y), _, _ = load_data()
        reps = -(-n // len(x))
        x = np.concatenate([x] * reps)[:n].astype("float32")
        y = np.concatenate([y] * reps)[:n].astype("int32")
        return x, y
    d = net["image"] ** 2
    return rng.random((n, d)).astype("float32"), rng.integers(0, net["classes"], n).astype(
        "int32")


def _symgraph_step(net, batch, data, mode):
    """A compiled training step ``train(i) -> cost`` and its compile time (s)."""
    import numpy as np

    import symgraph
    from symgraph.nn.layers import ConvPoolLayer, FullyConnectedLayer, ReLU, SoftmaxLayer
    from symgraph.nn.network import Network

    symgraph.config.floatX = "float32"
    rng = np.random.RandomState(0)
    img, f, k = net["image"], net["filters"], net["ksize"]
    pooled = f * ((img - k + 1) // 2) ** 2
    layers = [ConvPoolLayer((f, 1, k, k), (batch, 1, img, img), (2, 2), activation_fn=ReLU,
                            rng=rng),
              FullyConnectedLayer(pooled, net["hidden"], activation_fn=ReLU, rng=rng),
              SoftmaxLayer(net["hidden"], net["classes"])]
    model = Network(layers, batch)
    tx = symgraph.shared(data[0], name="train_x", borrow=True)
    ty = symgraph.shared(data[1], name="train_y", borrow=True)
    t0 = time.perf_counter()
    train = model.build_train_fn((tx, ty), batch, eta=0.1, lmbda=0.1, mode=mode)
    train(0)
    return train, time.perf_counter() - t0


def _torch_step(net, batch, data, torch):
    dev = torch.device("cuda")
    torch.manual_seed(0)
    img, f, k = net["image"], net["filters"], net["ksize"]
    pooled = f * ((img - k + 1) // 2) ** 2
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, f, k), torch.nn.MaxPool2d(2), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(pooled, net["hidden"]), torch.nn.ReLU(),
        torch.nn.Linear(net["hidden"], net["classes"])).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.1 / (len(data[0]) // batch))
    x = torch.as_tensor(data[0], device=dev).reshape(-1, 1, img, img)
    y = torch.as_tensor(data[1], device=dev).long()
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(i):
        xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    t0 = time.perf_counter()
    step(0)
    return step, time.perf_counter() - t0


def _time(step, n_batches, warmup, steps):
    """Median ms per step (each step returns the cost to the host: synchronous)."""
    for i in range(warmup):
        step(i % n_batches)
    samples = []
    for i in range(steps):
        t0 = time.perf_counter()
        step((i + warmup) % n_batches)
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def _load_torch(skip):
    if skip:
        return None, "skipped"
    try:
        import torch
    except ImportError:
        return None, "not installed"
    if not torch.cuda.is_available():
        return None, f"torch {torch.__version__} without CUDA"
    return torch, f"torch {torch.__version__}"


def main(argv=None) -> int:
    args = _args(argv)
    if args.simulator:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    import numpy as np
    from numba import cuda

    from symgraph.link.cuda import runtime

    if not args.simulator and (runtime.using_simulator() or not cuda.is_available()):
        print("bench_cuda: no CUDA GPU available (numba.cuda.is_available() is False, or "
              "NUMBA_ENABLE_CUDASIM is set); nothing to time. Run it on a machine with an "
              "NVIDIA GPU and driver, or pass --simulator to smoke-test the script.",
              file=sys.stderr)
        return 2
    torch, torch_note = _load_torch(args.no_torch or args.simulator)
    if args.simulator:
        device = "Numba CUDA simulator (timings meaningless)"
        net = TINY
        args.steps, args.warmup = min(args.steps, 2), min(args.warmup, 1)
        args.batches = [min(b, 4) for b in args.batches]
    else:
        name = cuda.get_current_device().name
        device = name.decode() if isinstance(name, bytes) else str(name)
        net = MNIST
    rows = []
    for batch in args.batches:
        n = batch * max(8, args.steps + args.warmup)
        data = _data(net, n, np)
        n_batches = n // batch
        row = {"batch": batch}
        backends = [("symgraph_cuda", "cuda")] + ([] if args.no_cpu else [("symgraph_cpu",
                                                                          "numba")])
        for key, mode in backends:
            step, compile_s = _symgraph_step(net, batch, data, mode)
            row[key + "_ms"] = _time(step, n_batches, args.warmup, args.steps)
            row[key + "_compile_s"] = compile_s
        if torch is not None:
            step, compile_s = _torch_step(net, batch, data, torch)
            row["torch_cuda_ms"] = _time(step, n_batches, args.warmup, args.steps)
            row["torch_cuda_first_step_s"] = compile_s
        rows.append(row)
    print(f"MNIST ConvPool training step, float32, device: {device}; PyTorch: {torch_note}")
    print(f"{'batch':>6} {'cuda ms':>9} {'cpu ms':>9} {'torch ms':>9} {'cpu/cuda':>9} "
          f"{'cuda/torch':>10}   (compile s: cuda, cpu)")

    def fmt(v, w=9, p=3):
        return f"{v:>{w}.{p}f}" if isinstance(v, float) else f"{'-':>{w}}"

    for r in rows:
        c, p, t = r.get("symgraph_cuda_ms"), r.get("symgraph_cpu_ms"), r.get("torch_cuda_ms")
        r["cpu_over_cuda"] = p / c if c and p else None
        r["cuda_over_torch"] = c / t if c and t else None
        print(f"{r['batch']:>6} {fmt(c)} {fmt(p)} {fmt(t)} {fmt(r['cpu_over_cuda'], 9, 2)} "
              f"{fmt(r['cuda_over_torch'], 10, 2)}   ({fmt(r.get('symgraph_cuda_compile_s'), 0, 2)}"
              f", {fmt(r.get('symgraph_cpu_compile_s'), 0, 2)})")
    out = {"benchmark": "bench_cuda", "device": device, "torch": torch_note,
           "simulator": bool(args.simulator), "network": net, "steps": args.steps,
           "python": platform.python_version(), "rows": rows,
           "notes": "ms per training step (median); cpu_over_cuda > 1 means the GPU backend "
                    "is faster; cuda_over_torch < 1 means symgraph beats PyTorch"}
    if args.simulator and args.out == RESULTS:
        print("(simulator run: results not written)")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
