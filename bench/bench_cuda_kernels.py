"""Time the hand-written CUDA kernels on the MNIST ConvPool network's shapes.

Shapes (float32): conv 20 filters 5x5 on (batch, 1, 28, 28) -> (batch, 20, 24, 24),
max pool 2x2 -> (batch, 20, 12, 12) = 2880 features, dense 2880 -> 100 -> 10,
softmax + NLL on (batch, 10); batch 10 and 100. Forward and backward kernels are
timed separately. When PyTorch with CUDA is importable, the same operations are
timed with it in the same run and the table shows ours / torch (lower is better).

Usage::

    python bench/bench_cuda_kernels.py                  # needs a CUDA GPU
    python bench/bench_cuda_kernels.py --reps 50 --batches 10 100 256
    python bench/bench_cuda_kernels.py --simulator --batches 2 --reps 1   # smoke test, tiny net

Writes ``bench/results/cuda_kernels.json``. Exits with status 2 and a message
when there is no GPU (unless ``--simulator``, whose timings mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "cuda_kernels.json"


@dataclass(frozen=True)
class Net:
    """Layer sizes of the ConvPool network being timed."""

    image: int = 28
    filters: int = 20
    ksize: int = 5
    hidden: int = 100
    classes: int = 10

    @property
    def conv_out(self) -> int:
        return self.image - self.ksize + 1

    @property
    def features(self) -> int:
        return self.filters * (self.conv_out // 2) ** 2


MNIST = Net()
TINY = Net(image=8, filters=2, ksize=3, hidden=4, classes=3)  # simulator smoke test


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, nargs="+", default=[10, 100])
    p.add_argument("--reps", type=int, default=30, help="timed repetitions per op (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (compile)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    p.add_argument(
        "--simulator",
        action="store_true",
        help="run on Numba's CUDA simulator to smoke-test this script (timings meaningless)",
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def _timer(sync: Callable[[], None], fn: Callable[[], object], warmup: int, reps: int) -> float:
    """Median wall time in ms of ``fn`` with device synchronisation around each call."""
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def _ours(net: Net, batch: int, np, cuda) -> dict[str, Callable[[], object]]:
    from symgraph.kernels.cuda import conv, gemm, pool, softmax

    rng = np.random.default_rng(0)

    def dev(*shape):
        return cuda.to_device(rng.standard_normal(shape).astype(np.float32))

    k, img = net.ksize, net.image
    x = dev(batch, 1, img, img)
    w = dev(net.filters, 1, k, k)
    c = conv.conv2d_forward(x, w, 0, 0, 1, 1, True)
    g_c = dev(*c.shape)
    p = pool.pool2d_forward(c, 2, 2, 2, 2, 0, 0, True, 0)
    g_p = dev(*p.shape)
    h_in = dev(batch, net.features)
    w1 = dev(net.features, net.hidden)
    h = dev(batch, net.hidden)
    g_h = dev(batch, net.hidden)
    w2 = dev(net.hidden, net.classes)
    logits = dev(batch, net.classes)
    y = cuda.to_device(rng.integers(0, net.classes, batch))
    nll, sm = softmax.softmax_nll_forward(logits, y)
    g_nll = dev(batch)
    return {
        "conv fwd": lambda: conv.conv2d_forward(x, w, 0, 0, 1, 1, True),
        "conv grad_w": lambda: conv.conv2d_grad_filters(x, g_c, k, k, 0, 0, 1, 1, True),
        "conv grad_x": lambda: conv.conv2d_grad_input(g_c, w, img, img, 0, 0, 1, 1, True),
        "pool fwd": lambda: pool.pool2d_forward(c, 2, 2, 2, 2, 0, 0, True, 0),
        "pool bwd": lambda: pool.pool2d_backward(c, p, g_p, 2, 2, 2, 2, 0, 0, True, 0),
        "dense1 fwd": lambda: gemm.gemm(h_in, w1),
        "dense1 grad_w": lambda: gemm.gemm(h_in, g_h, trans_a=True),
        "dense1 grad_x": lambda: gemm.gemm(g_h, w1, trans_b=True),
        "dense2 fwd": lambda: gemm.gemm(h, w2),
        "softmax-nll fwd": lambda: softmax.softmax_nll_forward(logits, y),
        "softmax-nll bwd": lambda: softmax.softmax_nll_backward(g_nll, sm, y),
    }


def _torch(net: Net, batch: int, torch) -> dict[str, Callable[[], object]]:
    f = torch.nn.functional
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)

    def rnd(*shape):
        return torch.randn(*shape, device=dev, dtype=torch.float32, generator=gen)

    x = rnd(batch, 1, net.image, net.image)
    w = rnd(net.filters, 1, net.ksize, net.ksize)
    c = f.conv2d(x, w)
    g_c = rnd(*c.shape)
    p, idx = f.max_pool2d(c, 2, return_indices=True)
    g_p = rnd(*p.shape)
    h_in = rnd(batch, net.features)
    w1 = rnd(net.features, net.hidden)
    h = rnd(batch, net.hidden)
    g_h = rnd(batch, net.hidden)
    w2 = rnd(net.hidden, net.classes)
    logits = rnd(batch, net.classes)
    y = torch.randint(0, net.classes, (batch,), device=dev, generator=gen)
    sm = torch.softmax(logits, 1)
    g_nll = rnd(batch)
    grad_w = torch.ops.aten.convolution_backward
    return {
        "conv fwd": lambda: f.conv2d(x, w),
        "conv grad_w": lambda: grad_w(
            g_c, x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [False, True, False]
        ),
        "conv grad_x": lambda: grad_w(
            g_c, x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [True, False, False]
        ),
        "pool fwd": lambda: f.max_pool2d(c, 2),
        "pool bwd": lambda: torch.ops.aten.max_pool2d_with_indices_backward(
            g_p, c, [2, 2], [2, 2], [0, 0], [1, 1], False, idx
        ),
        "dense1 fwd": lambda: h_in @ w1,
        "dense1 grad_w": lambda: h_in.t() @ g_h,
        "dense1 grad_x": lambda: g_h @ w1.t(),
        "dense2 fwd": lambda: h @ w2,
        "softmax-nll fwd": lambda: f.cross_entropy(logits, y, reduction="none"),
        "softmax-nll bwd": lambda: g_nll[:, None] * (sm - f.one_hot(y, net.classes)),
    }


def _load_torch(skip: bool):
    if skip:
        return None, "disabled (--no-torch)"
    try:
        import torch
    except ImportError:
        return None, "not installed"
    if not torch.cuda.is_available():
        return None, f"torch {torch.__version__} without CUDA"
    return torch, f"torch {torch.__version__}"


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.simulator:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    import numpy as np
    from numba import cuda
    from symgraph.kernels.cuda import launch

    if not (launch.has_real_gpu() or (args.simulator and launch.using_simulator())):
        print(
            "bench_cuda_kernels: no CUDA GPU available (numba.cuda.is_available() is False); "
            "nothing to time. Run on a machine with an NVIDIA GPU and driver, or pass "
            "--simulator to smoke-test the script.",
            file=sys.stderr,
        )
        return 2
    torch, torch_note = _load_torch(args.no_torch or args.simulator)
    device = "Numba CUDA simulator" if args.simulator else cuda.get_current_device().name
    if isinstance(device, bytes):
        device = device.decode()

    net = TINY if args.simulator else MNIST
    rows = []
    for batch in args.batches:
        ours = _ours(net, batch, np, cuda)
        ref = _torch(net, batch, torch) if torch is not None else {}
        for name, fn in ours.items():
            ms = _timer(cuda.synchronize, fn, args.warmup, args.reps)
            t_ms = (
                _timer(torch.cuda.synchronize, ref[name], args.warmup, args.reps)
                if name in ref
                else None
            )
            rows.append(
                {
                    "batch": batch,
                    "op": name,
                    "symgraph_ms": ms,
                    "torch_ms": t_ms,
                    "ratio": (ms / t_ms) if t_ms else None,
                }
            )

    print(f"device: {device}   reference: {torch_note}   reps: {args.reps} (median)")
    print(
        f"network: {net} -> dense1 {net.features}x{net.hidden}, dense2 {net.hidden}x{net.classes}"
    )
    print(f"{'batch':>5}  {'op':<22} {'symgraph ms':>12} {'torch ms':>10} {'ours/torch':>10}")
    for r in rows:
        t_ms = f"{r['torch_ms']:10.3f}" if r["torch_ms"] is not None else f"{'-':>10}"
        ratio = f"{r['ratio']:10.2f}" if r["ratio"] is not None else f"{'-':>10}"
        print(f"{r['batch']:>5}  {r['op']:<22} {r['symgraph_ms']:12.3f} {t_ms} {ratio}")

    import numba

    report = {
        "device": device,
        "simulator": bool(args.simulator),
        "reference": torch_note,
        "numba": numba.__version__,
        "python": platform.python_version(),
        "reps": args.reps,
        "dtype": "float32",
        "network": asdict(net),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
