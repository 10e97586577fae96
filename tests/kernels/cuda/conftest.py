"""Run the CUDA kernel tests on a real GPU when there is one, else on Numba's simulator.

``numba.cuda`` picks real-vs-simulator once, when it is first imported, from
``NUMBA_ENABLE_CUDASIM``. So this file decides *at import time* (pytest imports
it before any test module of this folder) and never imports ``symgraph``: the
GPU probe talks to the driver library through ctypes.

* No GPU, ``numba.cuda`` not imported yet: set the variable, make an already
  imported ``numba.core.config`` re-read it, import ``numba.cuda``.
* No GPU, but something collected earlier already imported the real
  ``numba.cuda``: re-import ``numba.cuda`` (and our kernel modules) as the
  simulator, with a warning -- nothing could have launched a kernel anyway.
* ``NUMBA_ENABLE_CUDASIM=1`` set by the user: simulator, even with a GPU.

The simulator spends most of its time handing the GIL between its Python
threads, so a fixture shortens the interpreter's switch interval while these
tests run. Another makes the simulator's ``reshape`` as strict as the real
``DeviceNDArray.reshape`` (which refuses e.g. to reshape zero-size arrays), so
launchers that only work on the simulator fail here too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import warnings

import pytest


def _real_gpu_count() -> int:
    """Number of CUDA devices the driver reports, 0 if there is no usable driver."""
    names = ["libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda") or "", "nvcuda.dll"]
    for name in names:
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
    use_sim = forced not in ("", "0") or _real_gpu_count() == 0
    if not use_sim:
        return "gpu"
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    if "numba.core.config" in sys.modules:
        from numba.core import config

        config.reload_config()
        config.ENABLE_CUDASIM = 1
    existing = sys.modules.get("numba.cuda")
    if existing is not None and not _is_simulator(existing):
        warnings.warn(
            "numba.cuda was imported in GPU mode before tests/kernels/cuda/conftest.py "
            "and there is no GPU; re-importing it as the simulator for these tests. "
            "Set NUMBA_ENABLE_CUDASIM=1 in the top-level conftest to avoid this.",
            stacklevel=1,
        )
        for name in list(sys.modules):
            if name == "numba.cuda" or name.startswith("numba.cuda."):
                del sys.modules[name]
            elif name.startswith("symgraph.kernels.cuda"):
                del sys.modules[name]
        import numba

        del numba.cuda  # else ``from numba import cuda`` returns the stale attribute
    return "simulator"


BACKEND = _select_backend()

from numba import cuda  # noqa: E402  (must follow the backend choice)

if BACKEND == "simulator" and not _is_simulator(cuda):
    raise RuntimeError("could not switch numba.cuda to the simulator")

#: True when the kernels run on real CUDA hardware.
REAL_GPU = BACKEND == "gpu"


def pytest_report_header(config) -> str:
    return f"symgraph.kernels.cuda tests run on: {BACKEND}"


@pytest.fixture(autouse=True, scope="module")
def _fast_simulator_threads():
    """Hand the GIL over faster: simulator barriers are polled by Python threads."""
    if REAL_GPU:
        yield
        return
    old = sys.getswitchinterval()
    sys.setswitchinterval(2e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _load_dummyarray():
    """numba's host-side model of device array layouts (shadowed under the simulator)."""
    import importlib.util

    import numba

    path = os.path.join(os.path.dirname(numba.__file__), "cuda", "cudadrv", "dummyarray.py")
    spec = importlib.util.spec_from_file_location("_symgraph_test_dummyarray", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strict_reshape(original):
    dummyarray = _load_dummyarray()

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


@pytest.fixture(autouse=True, scope="session")
def _simulator_reshape_like_device():
    """Give FakeCUDAArray.reshape the real device array's restrictions."""
    if REAL_GPU:
        yield
        return
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    original = FakeCUDAArray.reshape
    FakeCUDAArray.reshape = _strict_reshape(original)
    try:
        yield
    finally:
        FakeCUDAArray.reshape = original


@pytest.fixture
def gpu_only():
    """Skip the requesting test unless a real CUDA GPU is present (timings, big shapes)."""
    if not REAL_GPU:
        pytest.skip("no CUDA GPU")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)
