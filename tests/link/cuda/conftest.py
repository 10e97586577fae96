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


@pytest.fixture(autouse=True, scope="module")
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


# ----------------------------------------------------------------------- helpers

class _Helpers:
    """Run graphs with mode='py' (the specification) and mode='cuda', compare results."""

    @staticmethod
    def tol(values):
        import numpy as np

        f32 = any(np.asarray(v).dtype == np.float32 for v in values)
        return (2e-5, 2e-5) if f32 else (1e-10, 1e-10)

    @staticmethod
    def assert_same(got, want, rtol, atol, what=""):
        import numpy as np

        got, want = np.asarray(got), np.asarray(want)
        assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
        assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
        if got.dtype.kind in "fc":
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True,
                                       err_msg=what)
        else:
            np.testing.assert_array_equal(got, want, err_msg=what)

    def compare(self, fn, values, syms=None, rtol=None, atol=None, broadcastable=None,
                mode_kw=None):
        """Compile ``fn(*syms)`` for py and cuda; run both on ``values``; compare.

        Returns the cuda Function (to inspect its graph)."""
        import numpy as np

        import symgraph
        from symgraph.testing import sym_for

        values = [np.asarray(v) for v in values]
        if syms is None:
            syms = [sym_for(v, f"in{k}", None if broadcastable is None else broadcastable[k])
                    for k, v in enumerate(values)]
        outs = fn(*syms)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        r0, a0 = self.tol(values)
        rtol = r0 if rtol is None else rtol
        atol = a0 if atol is None else atol
        res = {}
        fns = {}
        for mode in ("py", "cuda"):
            f = symgraph.function(syms, outs, mode=mode, on_unused_input="ignore")
            fns[mode] = f
            res[mode] = f(*[np.array(v, copy=True) for v in values])
        for k, (g, w) in enumerate(zip(res["cuda"], res["py"])):
            self.assert_same(g, w, rtol, atol, f"output {k} ({outs[k]})")
        return fns["cuda"]

    def train(self, build, calls, rtol=2e-5, atol=2e-6):
        """``build(mode) -> (f, shared_list)``; call both with each args tuple of
        ``calls`` and compare every output and, at the end, every shared value."""
        fp, sp = build("py")
        fc, sc = build("cuda")
        for args in calls:
            op_ = fp(*args)
            oc = fc(*args)
            op_ = op_ if isinstance(op_, list) else [op_]
            oc = oc if isinstance(oc, list) else [oc]
            for k, (g, w) in enumerate(zip(oc, op_)):
                self.assert_same(g, w, rtol, atol, f"output {k} for args {args}")
        for k, (a, b) in enumerate(zip(sc, sp)):
            self.assert_same(a.get_value(), b.get_value(), rtol, atol, f"shared {k} {a}")
        return fc, sc


@pytest.fixture
def helpers():
    return _Helpers()


@pytest.fixture
def no_real_gpu():
    """Skip the requesting test when a real CUDA GPU is present (it checks the no-GPU path)."""
    if REAL_GPU:
        pytest.skip("a CUDA GPU is present")
