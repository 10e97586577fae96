"""Platform detection, launch geometry helpers, and the real-target compile check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import cuda
from symgraph.kernels.cuda import launch

from .conftest import REAL_GPU


def test_backend_matches_conftest_choice():
    assert launch.using_simulator() is (not REAL_GPU)
    assert launch.has_real_gpu() is REAL_GPU
    if not REAL_GPU:
        # the simulator really is the numba.cuda in use, whatever was imported before
        assert cuda.to_device.__module__.startswith("numba.cuda.simulator")
        assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def test_grid_helpers():
    assert launch.blocks_for(0) == 1
    assert launch.blocks_for(10**9, 256) == launch.max_blocks()
    assert launch.grid_1d(5, tpb=4) == (2, 4) or launch.max_blocks() < 2
    assert launch.pow2_at_least(1, 1, 256) == 1
    assert launch.pow2_at_least(10, 32, 256) == 32
    assert launch.pow2_at_least(100, 8, 64) == 64
    assert launch.pow2_at_least(129, 1, 1024) == 256
    tpb = launch.reduce_threads_per_block()
    assert tpb & (tpb - 1) == 0


def test_checks_reject_bad_arrays():
    d = cuda.to_device(np.zeros((3, 4), np.float32))
    launch.check_c_contiguous("x", d)
    with pytest.raises(ValueError, match="C-contiguous"):
        launch.check_c_contiguous("x", cuda.to_device(np.zeros((4, 3), np.float32).T))
    with pytest.raises(TypeError, match="float32 or float64"):
        launch.check_float("x", cuda.to_device(np.zeros(3, np.int32)))
    with pytest.raises(ValueError, match="shape"):
        launch.check_out(d, (4, 3), np.float32)
    with pytest.raises(ValueError, match="dtype"):
        launch.check_out(d, (3, 4), np.float64)


def test_kernels_compile_for_real_cuda_target():
    """Every kernel types and lowers for the real CUDA target, float32 ones without float64.

    The simulator executes Python, so without this a kernel could pass every
    simulator test and still fail to compile (or silently run in float64) on a GPU.
    """
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    script = Path(__file__).with_name("real_target_check.py")
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["errors"] == [], json.dumps(report["errors"], indent=1)[:6000]
    assert report["float64_in_float32"] == []
    prefix = "symgraph.kernels.cuda."
    modules = {
        r["kernel"][len(prefix) :].split(".")[0]
        for r in report["compiled"]
        if r["kernel"].startswith(prefix)
    }
    assert {"reduce", "gemm", "conv", "pool", "softmax", "random"} <= modules
    assert any("elemwise_kernel" in r["kernel"] for r in report["compiled"])
    assert len(report["compiled"]) >= 100
