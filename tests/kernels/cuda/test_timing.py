"""Coarse speed guards on a real GPU (skipped elsewhere).

Limits are ~10-50x above what these kernels take on a current GPU: they catch
pathologies (a float32 kernel computing in float64, a launch that serialises,
recompilation on every call), not small regressions -- bench/bench_cuda_kernels.py
measures those.
"""

from __future__ import annotations

import time

import numpy as np
from numba import cuda
from symgraph.kernels.cuda import conv, gemm, pool, softmax


def _median_ms(fn, reps=20):
    fn()
    cuda.synchronize()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        cuda.synchronize()
        samples.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(samples))


def test_mnist_batch100_kernels_are_fast(gpu_only, rng):
    def dev(*shape):
        return cuda.to_device(rng.standard_normal(shape).astype(np.float32))

    x, w = dev(100, 1, 28, 28), dev(20, 1, 5, 5)
    c = conv.conv2d_forward(x, w, 0, 0, 1, 1, True)
    g_c = dev(*c.shape)
    h, w1 = dev(100, 2880), dev(2880, 100)
    logits = dev(100, 10)
    y = cuda.to_device(rng.integers(0, 10, 100))
    limits_ms = {
        "conv fwd": (lambda: conv.conv2d_forward(x, w, 0, 0, 1, 1, True), 5.0),
        "conv grad_w": (lambda: conv.conv2d_grad_filters(x, g_c, 5, 5, 0, 0, 1, 1, True), 10.0),
        "pool fwd": (lambda: pool.pool2d_forward(c, 2, 2, 2, 2, 0, 0, True, 0), 5.0),
        "gemm": (lambda: gemm.gemm(h, w1), 5.0),
        "softmax-nll": (lambda: softmax.softmax_nll_forward(logits, y), 2.0),
    }
    slow = {}
    for name, (fn, limit) in limits_ms.items():
        ms = _median_ms(fn)
        if ms > limit:
            slow[name] = (round(ms, 3), limit)
    assert not slow, f"slower than limit (ms, limit ms): {slow}"
