"""Shared by the two real-CUDA-target checks (``tests/kernels/cuda/real_target_check.py``
drives the kernel launchers, ``tests/link/cuda/real_target_check.py`` the backend): imports
``numba.cuda`` in real (non-simulator) mode and replaces device arrays by numpy arrays and
every kernel launch by ``compile_cuda`` (typing + lowering to NVVM IR; no driver, no GPU).

Each launch is recorded once per (kernel, argument types) in ``records`` (or ``errors``)
with what both checks need: the kernel's name, the op a generated kernel was made for, its
argument types, whether float32/float64 arguments are present, whether its IR does
double-precision arithmetic, and the host-only helpers (``numba_*``) it calls.
"""
from __future__ import annotations

import os
import re
import sys
import types as pytypes

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
    sys.exit("run without NUMBA_ENABLE_CUDASIM: this checks the real CUDA target")

import numpy as np  # noqa: E402
from numba import cuda, typeof, types  # noqa: E402
from numba.cuda import dispatcher as _dispatcher  # noqa: E402
from numba.cuda.compiler import compile_cuda  # noqa: E402

CC = (8, 0)
_DOUBLE = re.compile(r"(fadd|fsub|fmul|fdiv|frem|fpext|sitofp|uitofp|fcmp \w+)[^\n]*\bdouble\b"
                     r"|call double @")
_HOST_CALL = re.compile(r"declare [^\n]*@\"?(numba_[a-z_]+)")

records: list = []
errors: list = []
_seen: set = set()


class HostDeviceArray(np.ndarray):
    """A numpy array answering the device-array methods the launchers and backend use."""

    def is_c_contiguous(self) -> bool:
        return self.flags.c_contiguous

    def copy_to_host(self, ary=None, stream=0):
        return np.array(self)

    def copy_to_device(self, ary, stream=0):
        self[...] = ary


def dev(a) -> HostDeviceArray:
    return np.ascontiguousarray(a).view(HostDeviceArray)


def _op_of(fn):
    """The op a generated kernel was made for (the ``# op`` line above it), else ''."""
    mod = sys.modules.get(fn.__module__)
    path = getattr(mod, "__file__", None)
    if not path or not fn.__module__.startswith("sg_"):
        return ""
    text = open(path).read()
    i = text.find(f"def {fn.__name__}(")
    j = text.rfind("\n# ", 0, i)
    return text[j + 3: text.find("\n", j + 1)] if j >= 0 else ""


def _has_dtype(argtys, dtype) -> bool:
    return any(getattr(t, "dtype", None) == dtype for t in argtys)


def _fake_getitem(self, config):
    def launch(*args):
        argtys = tuple(typeof(a) for a in args)
        name = f"{self.py_func.__module__}.{self.py_func.__qualname__}"
        key = (id(self.py_func), argtys)
        if key in _seen:
            return
        _seen.add(key)
        try:
            res = compile_cuda(self.py_func, types.void, argtys, cc=CC)
        except Exception as exc:  # noqa: BLE001 - report, keep going
            errors.append({"kernel": name, "args": str(argtys), "error": repr(exc)[-1500:]})
            return
        ir = "\n".join(res.library.llvm_strs)
        records.append({"kernel": name, "op": _op_of(self.py_func), "args": str(argtys),
                        "float32_args": _has_dtype(argtys, types.float32),
                        "float64_args": _has_dtype(argtys, types.float64),
                        "double_ir": bool(_DOUBLE.search(ir)),
                        "host_calls": sorted(set(_HOST_CALL.findall(ir)))})

    return launch


def install_fakes():
    """Launches compile instead of running; device arrays and the device probe are faked."""
    _dispatcher.CUDADispatcher.__getitem__ = _fake_getitem
    _dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=CC)
    cuda.device_array = (lambda shape, dtype=np.float64, strides=None, order="C", stream=0:
                         np.zeros(shape, dtype).view(HostDeviceArray))
    cuda.to_device = lambda a, stream=0, copy=True, to=None: dev(a)
