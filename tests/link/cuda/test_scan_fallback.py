"""scan and ifelse on the CUDA backend: no device implementation yet, so they run on the
host (the loop calls the step's py graph) with the backend's usual one-time warning, and
give the same values as the CPU backends (tiny shapes, simulator when there is no GPU)."""
from __future__ import annotations

import warnings

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.ifelse import ifelse


def test_scan_and_ifelse_fall_back_to_the_host_with_a_warning():
    x = T.fvector("x")
    r, _ = symgraph.scan(lambda v, acc: acc + v, sequences=x,
                         outputs_info=T.constant(np.float32(0)), name="cuda_cumsum")
    out = ifelse(T.gt(x.sum(), 0), r * 2, r)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        f = symgraph.function([x], out, mode="cuda")
        np.testing.assert_allclose(f(np.array([1, 2, 3], "float32")), [2, 6, 12])
        np.testing.assert_allclose(f(np.array([-1, -2], "float32")), [-1, -3])
    msgs = [str(m.message) for m in w]
    # the scan runs on the device (link/cuda/impl/scan.py), or on the host with the warning
    scan_warned = any("Scan{cuda_cumsum}" in m and "no CUDA implementation" in m for m in msgs)
    scan_on_host = any(type(n.op).__name__ == "Scan" for n in f.executable.fallbacks)
    assert scan_warned == scan_on_host, msgs
