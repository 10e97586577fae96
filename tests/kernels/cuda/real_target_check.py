"""Compile every CUDA kernel for the *real* CUDA target, without a GPU.

The simulator runs kernels as plain Python, so it cannot tell whether Numba's
CUDA compiler will accept them (typing, unsupported constructs) or whether a
float32 kernel silently computes in float64 (a 2-32x slowdown on GPUs). This
script answers both on a machine without a GPU or CUDA toolkit:

* it imports ``numba.cuda`` in real (non-simulator) mode,
* replaces device allocation by numpy arrays and kernel launches by a call to
  ``numba.cuda.compiler.compile_cuda`` (typing + lowering to NVVM IR, which
  needs neither a driver nor NVVM),
* drives every public launcher in float32 and float64 so each kernel variant
  is compiled with the argument types real calls produce,
* flags float32 kernels whose LLVM IR contains double-precision arithmetic.

Run it in a fresh interpreter *without* ``NUMBA_ENABLE_CUDASIM``; it prints one
JSON object: ``{"compiled": [...], "errors": [...], "float64_in_float32": [...]}``.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: the shared fakes
import numpy as np  # noqa: E402
from cuda_real_target import dev as _dev  # noqa: E402
from cuda_real_target import errors, install_fakes, records  # noqa: E402
from numba import cuda  # noqa: E402  (real mode: cuda_real_target checked the environment)


def _drive() -> None:
    from symgraph.kernels.cuda import conv, elemwise, gemm, pool, reduce, softmax
    from symgraph.kernels.cuda import random as crandom

    for dt in (np.float32, np.float64):
        x3 = _dev(np.zeros((3, 4, 5), dt))
        big = _dev(np.zeros(700, dt))
        for op in range(5):
            reduce.reduce_axis(x3, 1, op, strategy="block")
            reduce.reduce_axis(x3, 1, op, strategy="thread")
            reduce.reduce_all(big, op)  # two passes: unindexed then indexed

        a = _dev(np.zeros((5, 7), dt))
        b = _dev(np.zeros((7, 6), dt))
        c = _dev(np.zeros((5, 6), dt))
        for ta in (False, True):
            for tb in (False, True):
                aa = _dev(np.zeros((7, 5), dt)) if ta else a
                bb = _dev(np.zeros((6, 7), dt)) if tb else b
                gemm.gemm(aa, bb, c, alpha=2.0, beta=1.0, trans_a=ta, trans_b=tb)
                gemm.gemm(aa, bb, trans_a=ta, trans_b=tb)
                gemm.gemm(aa, bb, c, beta=1.0, trans_a=ta, trans_b=tb, split_k=2, tile=4)
                gemm.gemm(aa, bb, trans_a=ta, trans_b=tb, split_k=2, tile=4)
        v7 = _dev(np.zeros(7, dt))
        v5 = _dev(np.zeros(5, dt))
        gemm.gemv(a, v7)
        gemm.gemv(a, v7, _dev(np.zeros(5, dt)), beta=1.0)
        gemm.gemv(a, v5, trans_a=True)
        gemm.gemv(a, v5, _dev(np.zeros(7, dt)), beta=1.0, trans_a=True)

        x = _dev(np.zeros((2, 2, 6, 6), dt))
        w = _dev(np.zeros((3, 2, 3, 3), dt))
        for flip in (False, True):
            y = conv.conv2d_forward(x, w, 1, 1, 1, 1, flip)
            conv.conv2d_grad_input(y, w, 6, 6, 1, 1, 1, 1, flip)
            conv.conv2d_grad_filters(x, y, 3, 3, 1, 1, 1, 1, flip)

        for mode in range(4):
            y = pool.pool2d_forward(x, 2, 2, 2, 2, 1, 1, True, mode)
            pool.pool2d_backward(x, y, y, 2, 2, 2, 2, 1, 1, True, mode)

        s = _dev(np.zeros((4, 10), dt))
        t = _dev(np.zeros(4, np.int64))
        t32 = _dev(np.zeros(4, np.int32))
        softmax.softmax(s)
        softmax.log_softmax(s)
        softmax.softmax_grad(s, s)
        softmax.log_softmax_grad(s, s)
        for tt in (t, t32):
            nll, sm = softmax.softmax_nll_forward(s, tt)
            softmax.softmax_nll_backward(nll, sm, tt)

        rng = crandom.DeviceRandomState(1, n_states=8)
        rng.uniform((3, 4), dtype=dt)
        rng.normal((3, 4), dtype=dt)
        rng.binomial((3, 4), n=2, p=0.3, dtype=dt)

        @cuda.jit(device=True)
        def axpy(alpha, xv, yv):
            return alpha * xv + yv, xv - yv

        elemwise.elemwise(axpy, [dt(2), x, x], [dt, dt], scalar_inputs=(0,))
    rng.binomial(5, dtype=np.int64)
    rng.binomial(5, dtype=np.int32)
    reduce.reduce_axis(_dev(np.zeros((3, 4), np.int64)), 0, "max")
    reduce.reduce_axis(_dev(np.zeros((3, 4), np.int32)), 1, "sum")
    reduce.reduce_all(_dev(np.zeros(5, np.int32)), "argmin")


def main() -> int:
    install_fakes()
    try:
        _drive()
    except Exception:
        errors.append({"kernel": "<driver>", "args": "", "error": traceback.format_exc()})
    report = {
        "compiled": records,
        "errors": errors,
        # any float32 argument: these launchers are driven with one float dtype at a time
        "float64_in_float32": [r for r in records if r["float32_args"] and r["double_ir"]],
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
