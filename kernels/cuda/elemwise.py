"""Build grid-stride elementwise kernels around a scalar device function.

The CUDA linker fuses chains of elementwise ops into one ``Composite`` scalar
function; this module turns such a function into one kernel so a fused chain
costs one launch and no temporaries. Arrays are treated as flat: the caller
guarantees equal sizes and C-contiguity (broadcasting is the graph's business),
except inputs declared *scalar*, which are passed by value.

Example::

    from numba import cuda

    @cuda.jit(device=True)
    def axpy(a, x, y):
        return a * x + y

    k = make_elemwise_kernel(3, 1, axpy, scalar_inputs=(0,))
    out = cuda.device_array_like(d_x)
    launch_elemwise(k, [np.float32(2), d_x, d_y], [out])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import cuda

from .launch import DeviceArray, check_c_contiguous, device_empty, grid_1d

__all__ = ["ElemwiseKernel", "make_elemwise_kernel", "launch_elemwise", "elemwise"]


def _kernel_source(n_inputs: int, n_outputs: int, scalar_inputs: frozenset[int]) -> str:
    ins = [f"i{k}" for k in range(n_inputs)]
    outs = [f"o{k}" for k in range(n_outputs)]
    reads = [f"i{k}" if k in scalar_inputs else f"i{k}[j]" for k in range(n_inputs)]
    lines = [
        f"def elemwise_kernel({', '.join(ins + outs)}):",
        "    start = cuda.grid(1)",
        "    stride = cuda.gridsize(1)",
        "    for j in range(start, o0.size, stride):",
        f"        r = scalar_fn({', '.join(reads)})",
    ]
    if n_outputs == 1:
        lines.append("        o0[j] = r")
    else:
        lines += [f"        o{k}[j] = r[{k}]" for k in range(n_outputs)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ElemwiseKernel:
    """A compiled-on-first-launch elementwise kernel plus the arity it was built for."""

    kernel: Any
    n_inputs: int
    n_outputs: int
    scalar_inputs: frozenset[int]


@functools.lru_cache(maxsize=512)
def _build(
    n_inputs: int, n_outputs: int, scalar_fn: Callable[..., Any], scalar_inputs: frozenset[int]
) -> Any:
    src = _kernel_source(n_inputs, n_outputs, scalar_inputs)
    namespace: dict[str, Any] = {"cuda": cuda, "scalar_fn": scalar_fn}
    exec(compile(src, f"<elemwise {n_inputs}->{n_outputs}>", "exec"), namespace)
    kernel = cuda.jit(namespace["elemwise_kernel"])
    return ElemwiseKernel(kernel, n_inputs, n_outputs, scalar_inputs)


def make_elemwise_kernel(
    n_inputs: int,
    n_outputs: int,
    scalar_fn: Callable[..., Any],
    scalar_inputs: Sequence[int] = (),
) -> ElemwiseKernel:
    """Return a kernel ``k(i0, ..., o0, ...)`` applying ``scalar_fn`` at every flat index.

    ``scalar_fn`` is a ``cuda.jit(device=True)`` function of ``n_inputs`` scalars
    returning one value (``n_outputs == 1``) or a tuple of ``n_outputs`` values.
    Inputs whose positions are in ``scalar_inputs`` are passed by value rather
    than indexed. Kernels are cached per ``(n_inputs, n_outputs, scalar_fn,
    scalar_inputs)`` so rebuilding the same fusion is free.
    """
    if n_inputs < 0 or n_outputs < 1:
        raise ValueError("need n_inputs >= 0 and n_outputs >= 1")
    scal = frozenset(int(k) for k in scalar_inputs)
    if any(k < 0 or k >= n_inputs for k in scal):
        raise ValueError(f"scalar_inputs {sorted(scal)} out of range for {n_inputs} inputs")
    return _build(int(n_inputs), int(n_outputs), scalar_fn, scal)


def launch_elemwise(
    kernel: ElemwiseKernel, inputs: Sequence[Any], outputs: Sequence[DeviceArray]
) -> Sequence[DeviceArray]:
    """Run a kernel from :func:`make_elemwise_kernel`; returns ``outputs``.

    Array inputs and all outputs must be C-contiguous with the same number of
    elements (any shapes); they are viewed flat. Scalar inputs must be numpy
    scalars of the intended dtype (a Python float would make the kernel compute
    in float64).
    """
    if len(inputs) != kernel.n_inputs or len(outputs) != kernel.n_outputs:
        raise ValueError(
            f"kernel takes {kernel.n_inputs} inputs and {kernel.n_outputs} outputs, "
            f"got {len(inputs)} and {len(outputs)}"
        )
    n = outputs[0].size
    for k, a in enumerate(inputs):
        if k in kernel.scalar_inputs:
            continue
        check_c_contiguous(f"input {k}", a)
        if a.size != n:
            raise ValueError(f"input {k} has {a.size} elements, outputs have {n}")
    for k, o in enumerate(outputs):
        check_c_contiguous(f"output {k}", o)
        if o.size != n:
            raise ValueError(f"output {k} has {o.size} elements, output 0 has {n}")
    if n == 0:  # also: device arrays cannot reshape zero-size views
        return outputs
    flat = [a if k in kernel.scalar_inputs else a.reshape(n) for k, a in enumerate(inputs)]
    flat += [o.reshape(n) for o in outputs]
    blocks, tpb = grid_1d(n)
    kernel.kernel[blocks, tpb](*flat)
    return outputs


def elemwise(
    scalar_fn: Callable[..., Any],
    inputs: Sequence[Any],
    out_dtypes: Sequence[Any],
    scalar_inputs: Sequence[int] = (),
) -> list[DeviceArray]:
    """Allocate outputs shaped like the first array input and apply ``scalar_fn``.

    Convenience for tests and one-off calls; the code generator should cache the
    kernel from :func:`make_elemwise_kernel` and call :func:`launch_elemwise`.
    """
    kernel = make_elemwise_kernel(len(inputs), len(out_dtypes), scalar_fn, scalar_inputs)
    arrays = [a for k, a in enumerate(inputs) if k not in kernel.scalar_inputs]
    if not arrays:
        raise ValueError("elemwise needs at least one array input to take its shape from")
    shape = tuple(arrays[0].shape)
    outs = [device_empty(shape, np.dtype(dt)) for dt in out_dtypes]
    launch_elemwise(kernel, inputs, outs)
    return outs
