"""Run the CUDA backend tests on a real GPU when there is one, else on Numba's simulator.

``numba.cuda`` picks real-vs-simulator once, when it is first imported, from
``NUMBA_ENABLE_CUDASIM`` -- so this file decides at import time (pytest imports it
before the test modules of this folder), probing the driver through ctypes:

* no GPU and ``numba.cuda`` not imported yet: set the variable, import the simulator;
* no GPU but something collected earlier imported the real ``numba.cuda``: re-import
  it (and the symgraph modules that hold on to it) as the simulator;
* ``NUMBA_ENABLE_CUDASIM=1`` set by the user: simulator, even with a GPU.

Under the simulator each kernel thread is a Python thread: the launch geometry of the
backend is already tiny there (``runtime.SIM_TPB``); a fixture also shrinks the
hand-written kernels' geometry and shortens the interpreter's switch interval, and
makes the simulator's ``reshape`` as strict as the real device array's.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

import pytest


def _real_gpu_count() -> int:
    for name in ("libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda") or ""):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            if lib.cuInit(0) != 0:
                return 0
            count = ctypes.c_int(0)
            if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
                return 0
            return int(count.value)
        except AttributeError:
            return 0
    return 0


def _is_simulator(cuda_module) -> bool:
    return cuda_module.to_device.__module__.startswith("numba.cuda.simulator")


def _select_backend() -> str:
    forced = os.environ.get("NUMBA_ENABLE_CUDASIM", "").strip()
    if forced in ("", "0") and _real_gpu_count() > 0:
        return "gpu"
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    if "numba.core.config" in sys.modules:
        from numba.core import config

        config.reload_config()
        config.ENABLE_CUDASIM = 1
    existing = sys.modules.get("numba.cuda")
    if existing is not None and not _is_simulator(existing):
        for name in list(sys.modules):
            if (name == "numba.cuda" or name.startswith("numba.cuda.")
                    or name.startswith("symgraph.kernels.cuda")
                    or name.startswith("symgraph.link.cuda")):
                del sys.modules[name]
        import numba

        del numba.cuda
    return "simulator"


BACKEND = _select_backend()

from numba import cuda  # noqa: E402  (must follow the backend choice)

if BACKEND == "simulator" and not _is_simulator(cuda):
    raise RuntimeError("could not switch numba.cuda to the simulator")

REAL_GPU = BACKEND == "gpu"


def pytest_report_header(config) -> str:
    return f"symgraph.link.cuda tests run on: {BACKEND}"


@pytest.fixture(autouse=True, scope="session")
def _small_simulator():
    """Tiny launch geometry for the hand-written kernels, fast GIL hand-over, strict
    reshape (the real DeviceNDArray refuses to reshape what needs a copy)."""
    if REAL_GPU:
        yield
        return
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
    from symgraph.kernels.cuda import launch

    saved = {k: getattr(launch, k) for k in ("_SIM_TPB", "_SIM_REDUCE_TPB", "_SIM_MAX_BLOCKS",
                                             "_SIM_TILE")}
    launch._SIM_TPB, launch._SIM_REDUCE_TPB, launch._SIM_MAX_BLOCKS, launch._SIM_TILE = 4, 4, 2, 2
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(2e-4)
    original = FakeCUDAArray.reshape
    FakeCUDAArray.reshape = _strict_reshape(original)
    try:
        yield
    finally:
        FakeCUDAArray.reshape = original
        sys.setswitchinterval(old_interval)
        for k, v in saved.items():
            setattr(launch, k, v)


def _strict_reshape(original):
    import importlib.util

    import numba

    path = os.path.join(os.path.dirname(numba.__file__), "cuda", "cudadrv", "dummyarray.py")
    spec = importlib.util.spec_from_file_location("_symgraph_link_cuda_dummyarray", path)
    dummyarray = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dummyarray)

    def reshape(self, *newshape, **kws):
        if len(newshape) == 1 and isinstance(newshape[0], (tuple, list)):
            newshape = tuple(newshape[0])
        if tuple(newshape) != tuple(self.shape):
            dummy = dummyarray.Array.from_desc(0, self.shape, self.strides, self.dtype.itemsize)
            _, extents = dummy.reshape(*newshape, **kws)
            if extents != [dummy.extent]:
                raise NotImplementedError("operation requires copying (real DeviceNDArray)")
        return original(self, *newshape, **kws)

    return reshape


@pytest.fixture
def gpu_only():
    """Skip the requesting test unless a real CUDA GPU is present."""
    if not REAL_GPU:
        pytest.skip("no CUDA GPU")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)
