"""CUDA implementations of ``Dot``, ``Gemm`` and ``Gemv`` on ``symgraph.kernels.cuda.gemm``.

The GEMM/GEMV kernels read C-contiguous operands and take transpose flags, so a
transposed view (``W.T``, a ``DimShuffle{1,0}``) is passed as its contiguous base with
the flag set -- no copy; any other strided operand is gathered into a contiguous buffer.
Float32/float64 only (integer products run on the CPU). ``Gemm``/``Gemv`` never write
into ``Z``/``y`` (in-place variants are computed out of place: a call either completes or
changes nothing).
"""
from __future__ import annotations

import numpy as np

from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import CudaImpl, cuda_impl
from symgraph.tensor.dot import Dot, Gemm, Gemv

_FLOATS = ("float32", "float64")


def operand(a):
    """``(c_array, transposed)`` with ``c_array`` C-contiguous and ``a == c_array.T`` when
    ``transposed`` (2-d; 1-d operands are made contiguous)."""
    if runtime.is_c_contiguous(a):
        return a, False
    if a.ndim == 2:
        t = runtime.restride(a, a.shape[::-1], a.strides[::-1])
        if runtime.is_c_contiguous(t):
            return t, True
    return runtime.contiguous(a), False


def _gemm_mod():
    from symgraph.kernels.cuda import gemm

    return gemm


def _floats(node):
    return all(v.type.dtype in _FLOATS for v in node.inputs if v.type.ndim > 0) and \
        len({v.type.dtype for v in node.inputs if v.type.ndim > 0}) == 1


@cuda_impl.register(Dot)
def cuda_dot(op, node, ctx):
    a_var, b_var = node.inputs
    if not _floats(node):
        return None
    na, nb = a_var.type.ndim, b_var.type.ndim
    dt = np.dtype(node.outputs[0].type.dtype)
    slot = ctx.slot()

    def mismatch(a, b):
        return ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} are not "
                          f"aligned: axis {a.ndim - 1} of input 0 has length {a.shape[-1]} "
                          f"but axis 0 of input 1 has length {b.shape[0]}")

    def build(module):
        g = _gemm_mod()
        if na == 2 and nb == 2:
            def fn(a, b):
                if a.shape[1] != b.shape[0]:
                    raise mismatch(a, b)
                A, ta = operand(a)
                B, tb = operand(b)
                out = slot.get((a.shape[0], b.shape[1]), dt)
                return g.gemm(A, B, out, 1.0, 0.0, trans_a=ta, trans_b=tb)
        elif na == 2:
            def fn(a, b):
                if a.shape[1] != b.shape[0]:
                    raise mismatch(a, b)
                A, ta = operand(a)
                x, _ = operand(b)
                out = slot.get((a.shape[0],), dt)
                return g.gemv(A, x, out, 1.0, 0.0, trans_a=ta)
        elif nb == 2:
            def fn(a, b):
                if a.shape[0] != b.shape[0]:
                    raise mismatch(a, b)
                B, tb = operand(b)
                x, _ = operand(a)
                out = slot.get((b.shape[1],), dt)
                return g.gemv(B, x, out, 1.0, 0.0, trans_a=not tb)
        else:
            def fn(a, b):
                if a.shape[0] != b.shape[0]:
                    raise mismatch(a, b)
                x, _ = operand(a)
                y, _ = operand(b)
                out = slot.get((), dt)
                row = runtime.restride(x, (1, x.shape[0]), (x.shape[0] * dt.itemsize,
                                                             dt.itemsize))
                g.gemv(row, y, runtime.restride(out, (1,), (dt.itemsize,)), 1.0, 0.0)
                return out
        return fn

    return CudaImpl(["device", "device"], build, fresh_outputs=(0,), slots={0: slot})


def _blas(op, node, ctx, kind):
    if not _floats(node):
        return None
    dt = np.dtype(node.outputs[0].type.dtype)
    slot = ctx.slot()

    def build(module):
        g = _gemm_mod()
        if kind == "gemm":
            def fn(z, alpha, x, y, beta):
                if x.shape[1] != y.shape[0]:
                    raise ValueError(f"{op}: shapes {tuple(x.shape)} and {tuple(y.shape)} are "
                                     f"not aligned")
                shape = (x.shape[0], y.shape[1])
                if tuple(z.shape) != shape:
                    raise ValueError(f"{op}: Z has shape {tuple(z.shape)} but dot(X, Y) has "
                                     f"shape {shape}")
                b = float(beta)
                out = slot.get(shape, dt)
                if b != 0.0:
                    runtime.copy_into(z, out)
                X, tx = operand(x)
                Y, ty = operand(y)
                return g.gemm(X, Y, out, float(alpha), b, trans_a=tx, trans_b=ty)
        else:
            def fn(y, alpha, A, x, beta):
                if A.shape[1] != x.shape[0]:
                    raise ValueError(f"{op}: shapes {tuple(A.shape)} and {tuple(x.shape)} are "
                                     f"not aligned")
                if tuple(y.shape) != (A.shape[0],):
                    raise ValueError(f"{op}: y has shape {tuple(y.shape)} but dot(A, x) has "
                                     f"shape {(A.shape[0],)}")
                b = float(beta)
                out = slot.get((A.shape[0],), dt)
                if b != 0.0:
                    runtime.copy_into(y, out)
                M, tm = operand(A)
                v, _ = operand(x)
                return g.gemv(M, v, out, float(alpha), b, trans_a=tm)
        return fn

    return CudaImpl(["device", "host", "device", "device", "host"], build,
                    fresh_outputs=(0,), slots={0: slot})


@cuda_impl.register(Gemm)
def cuda_gemm(op, node, ctx):
    return _blas(op, node, ctx, "gemm")


@cuda_impl.register(Gemv)
def cuda_gemv(op, node, ctx):
    return _blas(op, node, ctx, "gemv")
