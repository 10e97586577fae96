"""Ops without a CUDA implementation run on the CPU with a one-time warning; the
transfers around them are visible in debugprint; third-party ops can register one."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.link.cuda import linker
from symgraph.link.cuda.transfer import GpuFromHost, HostFromGpu


class Twice(Op):
    """A third-party op with only a numpy implementation."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        return [np.asarray(inputs[0] * 2, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return input_shapes


class Thrice(Twice):
    def perform(self, node, inputs):
        return [np.asarray(inputs[0] * 3, dtype=node.outputs[0].type.dtype)]


def test_fallback_warns_once_and_is_correct(helpers):
    linker._warned.clear()
    x = T.matrix("x")
    xv = np.arange(6.0).reshape(2, 3) / 6
    with pytest.warns(linker.CudaFallbackWarning, match="Twice") as rec:
        f = helpers.compare(lambda x: T.exp(Twice()(T.exp(x))).sum(axis=1), [xv], syms=[x])
    assert len([w for w in rec if issubclass(w.category, linker.CudaFallbackWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", linker.CudaFallbackWarning)
        g = symgraph.function([x], Twice()(T.exp(x)) + 1.0, mode="cuda")  # no second warning
    np.testing.assert_allclose(g(xv), np.exp(xv) * 2 + 1)
    # the copies around the CPU op are in the printed graph
    text = symgraph.debugprint(f, file="str")
    lines = text.splitlines()
    k = next(i for i, line in enumerate(lines) if "Twice" in line)
    assert "HostFromGpu" in lines[k + 1] and "GpuFromHost" in lines[k - 1]
    node = next(n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Twice))
    assert isinstance(node.inputs[0].owner.op, HostFromGpu)
    assert f.executable.fallbacks == [node]


def test_third_party_ops_can_register_a_cuda_implementation(helpers):
    from symgraph.link.cuda.dispatch import CudaImpl, cuda_impl
    from symgraph.link.cuda.impl.elemwise import cuda_elemwise

    @cuda_impl.register(Thrice)
    def _thrice(op, node, ctx):
        # reuse the Elemwise generator: x * 3 as one kernel
        inner = T.mul(T.matrix(dtype=node.inputs[0].type.dtype), 3.0).owner
        impl = cuda_elemwise(inner.op, inner, ctx)
        return CudaImpl(["device"], lambda mod: (lambda x, f=impl.build(mod): f(x, None)),
                        kernels=impl.kernels)

    linker._warned.clear()
    x = T.matrix("x")
    with warnings.catch_warnings():
        warnings.simplefilter("error", linker.CudaFallbackWarning)
        f = helpers.compare(lambda x: Thrice()(T.exp(x)), [np.ones((2, 2))], syms=[x])
    assert not any(isinstance(n.op, GpuFromHost) and n.inputs[0].owner is not None
                   for n in f.maker.fgraph.apply_nodes)


def test_no_gpu_gives_a_clear_error(no_real_gpu):
    """Without a GPU and without the simulator, mode='cuda' and device=cuda say what to do."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = textwrap.dedent("""
        import symgraph, symgraph.tensor as T
        from symgraph.link.cuda.runtime import CudaUnavailableError
        x = T.vector('x')
        for kw in ({'mode': 'cuda'}, {}):
            try:
                symgraph.function([x], x * 2, **kw)
            except CudaUnavailableError as e:
                print('ERROR:', e)
            else:
                print('COMPILED')
    """)
    for flags in ("", "device=cuda"):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=dict(env, SYMGRAPH_FLAGS=flags), timeout=120)
        assert r.returncode == 0, r.stderr
        out = r.stdout.splitlines()
        assert out[0].startswith("ERROR:") and "no CUDA device was found" in out[0]
        assert "NUMBA_ENABLE_CUDASIM=1" in out[0]
        assert out[1] == ("ERROR:" + out[0][6:] if flags else "COMPILED")
