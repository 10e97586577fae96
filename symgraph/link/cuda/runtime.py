"""Device-side runtime of the CUDA backend: arrays, views, copies, buffers, shared values.

Everything the generated host code does to device memory goes through the few functions
here, so that the real ``DeviceNDArray`` and the simulator's ``FakeCUDAArray`` are
handled in one place (they differ in how a view with new strides is made):

- ``device_empty``/``upload``/``download``: allocation and host<->device copies
  (``download`` of a strided view first gathers it into a contiguous buffer);
- ``restride``: a view of the same memory with another shape/strides (transposes,
  new or dropped length-1 axes) -- metadata only, no kernel;
- ``contiguous``/``copy_into``: a gather kernel (any strides, broadcasting length-1 axes);
- ``Slot``: a node output buffer reused from one call to the next;
- ``DeviceValue``, ``device_array``/``set_device``: a shared variable's value kept on
  the device (``Container.device_value``), copied to the host only when the host asks
  for it (reading ``Container.value``).

Example::

    >>> from symgraph.link.cuda import runtime   # doctest: +SKIP
    >>> d = runtime.upload(np.arange(6.0).reshape(2, 3))
    >>> runtime.download(runtime.restride(d, (3, 2), d.strides[::-1]))   # the transpose
"""
from __future__ import annotations

import functools
import os

import numpy as np
from numba import cuda

SIM_ENV = "NUMBA_ENABLE_CUDASIM"


class CudaUnavailableError(RuntimeError):
    """Raised when a CUDA function is compiled on a machine without a usable CUDA GPU."""


def _cuda():
    from numba import cuda

    return cuda


@functools.lru_cache(maxsize=1)
def using_simulator() -> bool:
    """True when ``numba.cuda`` was imported as Numba's pure-Python CUDA simulator."""
    return _cuda().to_device.__module__.startswith("numba.cuda.simulator")


def require_device() -> None:
    """Raise ``CudaUnavailableError`` unless a CUDA GPU (or the simulator) is usable.

    The message says how to run on Numba's simulator instead.
    """
    if using_simulator():
        return
    reason = ""
    try:
        ok = bool(cuda.is_available())
    except Exception as e:  # noqa: BLE001 - a broken driver counts as no device
        ok, reason = False, f" ({type(e).__name__}: {e})"
    if not ok:
        env = os.environ.get(SIM_ENV, "")
        late = (f" (it is set to {env!r}, but numba.cuda had already been imported in GPU "
                f"mode: set it before starting Python)" if env not in ("", "0") else "")
        raise CudaUnavailableError(
            "symgraph cuda backend: no CUDA device was found" + reason + ". To run CUDA "
            "functions anyway on Numba's CUDA simulator (pure Python, very slow: for tests "
            f"and debugging on tiny shapes), set the environment variable {SIM_ENV}=1 before "
            "starting Python" + late + "; or compile with mode='numba' (CPU) / "
            "SYMGRAPH_FLAGS=device=cpu.")


# ----------------------------------------------------------------------- geometry
# Every kernel of this backend walks its index space with grid-stride loops, so any
# launch geometry is correct. On the simulator each thread is a Python thread (a cost
# per launch and thread: docs/benchmarks.md), so it gets a tiny grid that still has >1
# block and >1 thread.

SIM_TPB = 4
SIM_BLOCKS = 2
GPU_TPB = 256
GPU_BLOCKS_PER_SM = 32


@functools.lru_cache(maxsize=1)
def _max_blocks() -> int:
    if using_simulator():
        return SIM_BLOCKS
    try:
        sms = int(_cuda().get_current_device().MULTIPROCESSOR_COUNT)
    except Exception:  # noqa: BLE001
        sms = 80
    return GPU_BLOCKS_PER_SM * sms


def tpb() -> int:
    """Threads per block of this backend's kernels (a power of two)."""
    return SIM_TPB if using_simulator() else GPU_TPB


def grid(n: int, per_block: int | None = None) -> tuple[int, int]:
    """``(blocks, threads)`` for ``n`` work items of ``per_block`` items per block."""
    t = tpb()
    per = t if per_block is None else per_block
    return max(1, min(-(-int(n) // max(per, 1)), _max_blocks())), t


# ----------------------------------------------------------------------- arrays

def device_empty(shape, dtype):
    """A new uninitialised C-contiguous device array."""
    return _cuda().device_array(tuple(int(s) for s in shape), dtype=np.dtype(dtype))


def upload(host):
    """Copy a host array (any layout) to a new C-contiguous device array."""
    a = np.asarray(host)
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a).reshape(a.shape)  # (ascontiguousarray makes 0-d 1-d)
    return _cuda().to_device(a)


def is_c_contiguous(a) -> bool:
    """C-contiguity from shape and strides (length-1 axes may have any stride)."""
    sd = a.dtype.itemsize
    for n, s in zip(reversed(a.shape), reversed(a.strides)):
        if n == 0:
            return True
        if n != 1:
            if s != sd:
                return False
            sd *= n
    return True


def restride(a, shape, strides):
    """A view of ``a``'s memory (same first element) with another shape and strides."""
    shape = tuple(int(s) for s in shape)
    strides = tuple(int(s) for s in strides)
    if using_simulator():
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        return FakeCUDAArray(np.lib.stride_tricks.as_strided(a._ary, shape, strides))
    return type(a)(shape=shape, strides=strides, dtype=a.dtype, gpu_data=a.gpu_data,
                   stream=a.stream)


def c_strides(shape, itemsize):
    """C-order strides of ``shape``."""
    st = []
    acc = itemsize
    for n in reversed(shape):
        st.append(acc)
        acc *= max(int(n), 1)
    return tuple(reversed(st))


def reshape(a, shape):
    """A C-order reshape: a view when ``a`` is contiguous, else a contiguous copy."""
    shape = tuple(int(s) for s in shape)
    if tuple(a.shape) == shape:
        return a
    if a.size == 0:
        return device_empty(shape, a.dtype)
    if not is_c_contiguous(a):
        a = contiguous(a)
    return restride(a, shape, c_strides(shape, a.dtype.itemsize))


def download(a):
    """A new host array with the contents of device array ``a`` (any strides)."""
    if a.size == 0:
        return np.empty(a.shape, a.dtype)
    if not is_c_contiguous(a):
        a = contiguous(a)
    elif tuple(a.strides) != c_strides(a.shape, a.dtype.itemsize):
        a = restride(a, a.shape, c_strides(a.shape, a.dtype.itemsize))
    return a.copy_to_host()


def contiguous(a, out=None):
    """``a`` itself when C-contiguous, else a C-contiguous copy (into ``out`` if given)."""
    if out is None and is_c_contiguous(a):
        return a
    if out is None:
        out = device_empty(a.shape, a.dtype)
    copy_into(a, out)
    return out


@functools.lru_cache(maxsize=None)
def _copy_kernel(ndim: int, add: bool = False, flips: tuple = ()):
    """o[idx] = x[idx with length-1 axes of x at 0] (``+=`` when ``add``): a strided gather
    with broadcasting; an axis ``d`` with ``flips[d]`` is read from its far end.

    Why flips and not views with negative strides: Numba's device arrays do not take
    negative strides (their extent and ``copy_to_host`` assume ascending memory), so a
    reversed slice is the ascending view of the same elements, read backwards here."""
    op = "+=" if add else "="
    flips = flips or (False,) * ndim
    if ndim == 0:
        src = ("def copy_kernel(x, o):\n"
               "    if cuda.grid(1) == 0:\n"
               f"        o[()] {op} x[()]\n")
    else:
        lines = ["def copy_kernel(x, o):"]
        for d in range(ndim):
            lines.append(f"    n{d} = o.shape[{d}]")
            lines.append(f"    b{d} = 0 if x.shape[{d}] == 1 else 1")
        lines.append("    for j in range(cuda.grid(1), o.size, cuda.gridsize(1)):")
        lines.append("        r = j")
        for d in range(ndim - 1, 0, -1):
            lines.append(f"        i{d} = r % n{d}")
            lines.append(f"        r = r // n{d}")
        lines.append("        i0 = r")
        idx_o = ", ".join(f"i{d}" for d in range(ndim))
        idx_x = ", ".join(f"(n{d} - 1 - i{d}) * b{d}" if flips[d] else f"i{d} * b{d}"
                          for d in range(ndim))
        lines.append(f"        o[{idx_o}] {op} x[{idx_x}]")
        src = "\n".join(lines) + "\n"
    ns = {"cuda": cuda}
    tag = f"{ndim}d{' add' if add else ''}{' flip' + str(flips) if any(flips) else ''}"
    exec(compile(src, f"<symgraph cuda copy {tag}>", "exec"), ns)
    return cuda.jit(ns["copy_kernel"])


def copy_into(x, out, flips=()):
    """Copy (and broadcast length-1 axes of) device array ``x`` into ``out``; the axes
    ``d`` with ``flips[d]`` true are read in reverse (``o[i] = x[n - 1 - i]``)."""
    if out.size == 0:
        return out
    if x.ndim != out.ndim:
        raise ValueError(f"copy_into: {x.ndim}-d source for a {out.ndim}-d destination")
    blocks, t = grid(out.size)
    _copy_kernel(out.ndim, False, _flip_key(flips, out.ndim))[blocks, t](x, out)
    return out


def add_into(x, out, flips=()):
    """``out += x`` (length-1 axes of ``x`` broadcast, ``flips`` as in ``copy_into``);
    ``out`` may be any strided view."""
    if out.size == 0:
        return out
    blocks, t = grid(out.size)
    _copy_kernel(out.ndim, True, _flip_key(flips, out.ndim))[blocks, t](x, out)
    return out


def _flip_key(flips, ndim) -> tuple:
    """``flips`` as a hashable tuple of ``ndim`` bools (empty when nothing is flipped, so
    the plain copy keeps its one kernel)."""
    flips = tuple(bool(f) for f in flips)
    if not any(flips):
        return ()
    if len(flips) != ndim:
        raise ValueError(f"copy_into: {len(flips)} flip flags for a {ndim}-d array")
    return flips


@functools.lru_cache(maxsize=None)
def _fill_kernel():

    @cuda.jit
    def fill_kernel(o, v):
        for j in range(cuda.grid(1), o.size, cuda.gridsize(1)):
            o[j] = v

    return fill_kernel


def fill(out, value):
    """Set every element of C-contiguous ``out`` to the scalar ``value``."""
    if out.size:
        flat = restride(out, (out.size,), (out.dtype.itemsize,))
        blocks, t = grid(out.size)
        _fill_kernel()[blocks, t](flat, out.dtype.type(value))
    return out


def host_scalar(v, dtype):
    """A numpy scalar of ``dtype`` from a host 0-d value (array, numpy or Python scalar)."""
    return np.dtype(dtype).type(v[()] if isinstance(v, np.ndarray) else v)


# ----------------------------------------------------------------------- buffers

class Slot:
    """The output buffer of one node output, kept from one call to the next.

    ``get(shape, dtype)`` returns the previous buffer when it still fits. The linker
    guarantees nothing outlives a call while aliasing a slot: returned outputs are copied
    to the host, and a buffer handed to a shared variable is swapped out (``give``).
    """

    __slots__ = ("buf",)

    def __init__(self):
        self.buf = None

    def get(self, shape, dtype):
        b = self.buf
        if b is not None and b.shape == shape and b.dtype == dtype:
            return b
        b = self.buf = device_empty(shape, dtype)
        return b

    def give(self, replacement):
        """The current buffer now belongs to someone else; keep ``replacement`` (or None)."""
        b = self.buf
        if (replacement is not None and b is not None and replacement.shape == b.shape
                and replacement.dtype == b.dtype and is_c_contiguous(replacement)):
            self.buf = replacement
        else:
            self.buf = None


# ----------------------------------------------------------------------- shared values

class DeviceValue:
    """A shared variable's value on the device; ``newer`` when the host copy is stale."""

    __slots__ = ("array", "newer")

    def __init__(self, array, newer):
        self.array = array
        self.newer = newer

    def copy_to_host_array(self):
        return download(self.array)


def device_array(container):
    """A shared variable's value on the device, uploaded from the host value (once, until
    the host value changes: ``Container``) when the device has none."""
    dv = container.device_value
    if dv is None:
        arr = upload(container.host)
        container.device_value = DeviceValue(arr, False)
        return arr
    return dv.array


def set_device(container, arr):
    """Make the device array ``arr`` a shared variable's new value (the host copy becomes
    stale, copied back when the host reads it); returns the previous device array (or
    None)."""
    old = container.device_value
    container.device_value = DeviceValue(arr, True)
    return None if old is None else old.array


def as_device(value):
    """``value`` on the device: a host array is uploaded, a device array kept."""
    return upload(value) if isinstance(value, (np.ndarray, np.generic)) else value
