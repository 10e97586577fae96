"""Host/device transfers are the CUDA backend's rewrite phase (issue 18, item 3): the
linker places the nodes, then ``transfer.insert_transfers`` -- registered with
``rewriting.engine.backend_rewriter`` -- inserts the copies through the FunctionGraph's
own editing, whatever the mode's optimizer settings."""
from __future__ import annotations

import warnings

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.graph.basic import Apply
from symgraph.graph.fg import OUTPUT
from symgraph.graph.op import Op
from symgraph.link.cuda import linker, transfer
from symgraph.link.cuda.transfer import GpuFromHost, HostFromGpu
from symgraph.rewriting.engine import BACKEND_PHASES


class Twice(Op):
    """An op with only a numpy implementation: it runs on the CPU in a CUDA function."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        return [np.asarray(inputs[0] * 2, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return input_shapes


def _transfers(f, op_class):
    return [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, op_class)]


def _check_clients(fg):
    """Every recorded client really uses the variable, and every use is recorded."""
    for v, clients in fg.clients.items():
        for c, i in clients:
            assert (fg.outputs[i] if c == OUTPUT else c.inputs[i]) is v
    for node in fg.apply_nodes:
        for i, v in enumerate(node.inputs):
            assert (node, i) in fg.clients[v]
    for k, v in enumerate(fg.outputs):
        assert (OUTPUT, k) in fg.clients[v]


def test_the_phase_is_registered_for_the_cuda_backend_only():
    names = {b: [r.name for r in rws] for b, rws in BACKEND_PHASES.items()}
    assert "cuda_transfers" in names["cuda"]
    assert not any("cuda_transfers" in v for b, v in names.items() if b != "cuda")
    assert any(r.fn is transfer.insert_transfers for r in BACKEND_PHASES["cuda"])


def test_the_phase_inserts_the_copies_and_logs_them():
    x = T.vector("x")
    f = symgraph.function([x], T.exp(x) * 2, mode="cuda")
    np.testing.assert_allclose(f(np.arange(4.0)), np.exp(np.arange(4.0)) * 2)
    fg = f.maker.fgraph
    up, down = _transfers(f, GpuFromHost), _transfers(f, HostFromGpu)
    assert len(up) == 1 and up[0].inputs[0] is fg.inputs[0]
    assert len(down) == 1 and fg.outputs[0] is down[0].outputs[0]
    assert fg.rewrite_log.applied.get("cuda_transfers") == 1
    assert "cuda" in fg.rewrite_log.phase_seconds
    _check_clients(fg)


def test_one_copy_per_value_and_side_and_device_clients_keep_the_value():
    """``e`` feeds a device kernel and a CPU-only op: one download for the CPU op, the
    kernel keeps reading the device value, and the CPU op's result goes back once."""
    linker._warned.clear()
    x = T.matrix("x")
    e = T.exp(x)
    t = Twice()(e)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linker.CudaFallbackWarning)
        f = symgraph.function([x], [e + t, t * 3, e.sum()], mode="cuda")
    xv = np.arange(6.0).reshape(2, 3) / 6
    got = f(xv)
    ev = np.exp(xv)
    for g, w in zip(got, [ev + 2 * ev, 6 * ev, ev.sum()]):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    fg = f.maker.fgraph
    twice = next(n for n in fg.apply_nodes if isinstance(n.op, Twice))
    e_dev = twice.inputs[0].owner.inputs[0]
    assert isinstance(twice.inputs[0].owner.op, HostFromGpu)
    # the exp's device value still feeds device nodes directly
    assert any(not isinstance(c.op, HostFromGpu) for c, _ in fg.clients[e_dev] if c != OUTPUT)
    # Twice's host result is uploaded once, though two device nodes use it
    ups = [c for c, _ in fg.clients[twice.outputs[0]] if c != OUTPUT]
    assert len(ups) == 1 and isinstance(ups[0].op, GpuFromHost)
    assert len(_transfers(f, HostFromGpu)) == 1 + 3  # Twice's input + the three outputs
    _check_clients(fg)


def test_transfers_run_without_the_optimizer():
    """Transfers are lowering, not optimization: ``optimizer=None`` and excluding the
    phase's name leave them on (the graph could not run on the device without them)."""
    x = T.vector("x")
    for mode in (Mode("cuda", optimizer=None), Mode("cuda").excluding("cuda_transfers")):
        f = symgraph.function([x], T.exp(x) + 1, mode=mode)
        np.testing.assert_allclose(f(np.arange(3.0)), np.exp(np.arange(3.0)) + 1)
        assert len(_transfers(f, GpuFromHost)) == 1 and len(_transfers(f, HostFromGpu)) == 1


def test_shared_updates_stay_on_the_device():
    w = symgraph.shared(np.ones(3), name="w")
    x = T.vector("x")
    f = symgraph.function([x], (w * x).sum(), updates=[(w, w * 2)], mode="cuda")
    assert float(f(np.ones(3))) == 3.0
    assert float(f(np.ones(3))) == 6.0
    np.testing.assert_allclose(w.get_value(), [4.0, 4.0, 4.0])
    fg = f.maker.fgraph
    n_user = fg.n_user_outputs
    # the update output is the device value itself, not a download
    upd = fg.outputs[n_user]
    assert upd.owner is None or not isinstance(upd.owner.op, HostFromGpu)
    assert not any(n.inputs[0] is fg.outputs[n_user] for n in _transfers(f, HostFromGpu))
