"""Scan on the CUDA backend (issue 19, item 4): the loop runs on the host and launches the
step graph's kernels, with the states kept on the device from step to step
(``symgraph/link/cuda/impl/scan.py``); a step using an op without a device
implementation makes the whole scan run on the CPU with the one-time warning.

Tiny shapes: on the simulator (no GPU) every kernel thread is a Python thread."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from numba import cuda

import symgraph
import symgraph.tensor as T
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.link.cuda import linker, runtime
from symgraph.scan_module import Scan, ScanError, until


def _scan_nodes(f):
    return [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Scan)]


def _on_device(f):
    """Every scan of ``f`` runs on the device and is there at all, and nothing of ``f``
    falls back to the CPU (reversals, ``x[::-1]`` of ``go_backwards`` and of the backward
    loop of a gradient, included)."""
    nodes = _scan_nodes(f)
    assert nodes, "the scan was optimized away: the test would not test it"
    ex = f.executable
    assert ex.fallbacks == [], ex.fallbacks
    for n in nodes:
        assert all(ex.locations[o] == "device" for o in n.outputs)
    return nodes


def _loops(f):
    """The host functions of ``f``'s scan nodes (each holds its linked step graph)."""
    env = f.executable.graph_fn.__globals__
    return [v for k, v in env.items() if k.startswith("n") and hasattr(v, "step")]


def _run(mode, ins, outs, vals, updates=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linker.CudaFallbackWarning)  # see _on_device
        f = symgraph.function(ins, outs, mode=mode, updates=updates)
    return f, f(*[np.array(v, copy=True) for v in vals])


def _same(got, want, rtol=1e-10, atol=1e-12):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, w.dtype, g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {k}")


def test_cumulative_sum_runs_on_the_device():
    x = T.fvector("x")
    r, _ = symgraph.scan(lambda v, acc: acc + v, sequences=x,
                         outputs_info=T.constant(np.float32(0)), name="cumsum")
    with warnings.catch_warnings():
        warnings.simplefilter("error", linker.CudaFallbackWarning)
        f = symgraph.function([x], r, mode="cuda")
    _on_device(f)
    xv = np.array([1, 2, 3, 4.5], "float32")
    got = f(xv)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.cumsum(xv), rtol=1e-6)
    # a zero-length sequence runs no step
    assert f(np.zeros(0, "float32")).shape == (0,)
    # the step graph got every node on the device: its inputs are device arrays
    (loop,) = _loops(f)
    assert all(loc == "device" for loc in (loop.step.loc[v] for v in loop.step.fgraph.inputs))


def test_fibonacci_with_two_taps_and_symbolic_n_steps():
    n = T.iscalar("n")
    x0 = T.dvector("x0")
    fib, _ = symgraph.scan(lambda a, b: a + b, outputs_info=dict(initial=x0, taps=[-2, -1]),
                           n_steps=n, name="fib")
    f = symgraph.function([x0, n], fib, mode="cuda")
    _on_device(f)
    want = [1.0, 1.0]
    for _ in range(8):
        want.append(want[-2] + want[-1])
    np.testing.assert_array_equal(f(np.array([1.0, 1.0]), 8), want[2:])
    assert f(np.array([1.0, 1.0]), 0).shape == (0,)
    with pytest.raises(ScanError, match="fib"):
        f(np.array([1.0]), 3)  # taps [-2, -1] need two initial values


def test_a_scalar_reduction_of_a_host_input_runs_on_the_device():
    """0-d outputs from host inputs are not the linker's cheap host arithmetic when the
    node is a loop (it would run the step graph with numpy at every step, silently)."""
    x = T.dvector("x")
    s, _ = symgraph.reduce(lambda v, acc: acc + v, x, T.constant(0.0), name="total")
    f = symgraph.function([x], s, mode="cuda")
    (node,) = _on_device(f)
    assert node.op.store_last == (True,)
    assert float(f(np.arange(5.0))) == 10.0
    assert float(f(np.zeros(0))) == 0.0


def test_nested_scans_and_an_unoptimized_step_graph():
    from symgraph.compile.mode import Mode

    xs = T.dmatrix("xs")

    def row_cumsum(row):
        r, _ = symgraph.scan(lambda v, acc: acc + v, sequences=row,
                             outputs_info=T.constant(0.0), name="inner")
        return r

    out, _ = symgraph.scan(row_cumsum, sequences=xs, name="outer")
    xv = np.arange(6.0).reshape(2, 3)
    for mode in ("cuda", Mode("cuda", optimizer=None)):
        f = symgraph.function([xs], out, mode=mode)
        _on_device(f)
        (loop,) = _loops(f)
        assert any(isinstance(n.op, Scan) for n in loop.step.fgraph.apply_nodes)
        assert loop.step.fallbacks == []
        np.testing.assert_array_equal(f(xv), np.cumsum(xv, axis=1))


def _rnn(truncate=-1):
    xs, w, u, h0 = T.dmatrix("xs"), T.dmatrix("w"), T.dmatrix("u"), T.dvector("h0")
    h, _ = symgraph.scan(lambda x, hp: T.tanh(T.dot(x, w) + T.dot(hp, u)), sequences=xs,
                         outputs_info=h0, truncate_gradient=truncate, name="rnn")
    cost = (h ** 2).sum() + h[-1].sum()
    return [xs, w, u, h0], h, cost


def _rnn_values(steps=4, seed=7):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((steps, 3)), rng.standard_normal((3, 2)) * 0.5,
            rng.standard_normal((2, 2)) * 0.5, rng.standard_normal(2)]


def test_rnn_forward_and_bptt_gradient_match_the_numba_and_py_backends():
    ins, h, cost = _rnn()
    grads = T.grad(cost, ins)
    vals = _rnn_values()
    res = {m: _run(m, ins, [h, cost] + grads, vals) for m in ("py", "numba", "cuda")}
    _on_device(res["cuda"][0])
    assert len(_scan_nodes(res["cuda"][0])) == 2  # the forward loop and the backward loop
    _same(res["cuda"][1], res["py"][1])
    _same(res["cuda"][1], res["numba"][1])
    # and against a numpy loop (forward)
    xs, w, u, h0 = vals
    hh = [h0]
    for x in xs:
        hh.append(np.tanh(x @ w + hh[-1] @ u))
    np.testing.assert_allclose(res["cuda"][1][0], np.array(hh[1:]), rtol=1e-12)


def test_truncated_bptt_matches_the_py_backend():
    ins, h, cost = _rnn(truncate=2)
    grads = T.grad(cost, ins[1:3])
    vals = _rnn_values(steps=5, seed=3)
    (fc, got), (_, want) = (_run(m, ins, grads, vals) for m in ("cuda", "py"))
    _on_device(fc)
    _same(got, want)


class _Transfers:
    """Counts every host<->device copy (at the device-array level, so copies made by code
    that bound ``runtime.upload``/``download`` at link time count too)."""

    def __init__(self, monkeypatch):
        self.n = 0
        cls = type(runtime.upload(np.zeros(1)))
        for name in ("copy_to_host", "copy_to_device"):
            monkeypatch.setattr(cls, name, self._counted(getattr(cls, name)))
        monkeypatch.setattr(cuda, "to_device", self._counted(cuda.to_device))

    def _counted(self, fn):
        def wrapper(*a, **k):
            self.n += 1
            return fn(*a, **k)
        return wrapper


def test_states_stay_on_the_device_between_steps(monkeypatch):
    """The copies between host and device per call do not grow with the number of steps,
    and the step graph reads and returns device arrays."""
    ins, h, cost = _rnn()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linker.CudaFallbackWarning)  # see _on_device
        f = symgraph.function(ins, [h, T.grad(cost, ins[2])], mode="cuda")
    _on_device(f)
    seen = []
    for loop in _loops(f):
        def spy(*args, _fn=loop.step.graph_fn):
            out = _fn(*args)
            seen.append([cuda.devicearray.is_cuda_ndarray(a) for a in args]
                        + [cuda.devicearray.is_cuda_ndarray(o) for o in out])
            return out
        monkeypatch.setattr(loop.step, "graph_fn", spy)
    counts = []
    transfers = _Transfers(monkeypatch)
    for steps in (2, 7):
        transfers.n = 0
        f(*_rnn_values(steps))
        counts.append(transfers.n)
    assert counts[0] == counts[1], counts
    assert len(seen) == 2 * (2 + 7) and all(all(s) for s in seen)


def test_memory_of_the_last_value_until_and_go_backwards():
    """``reduce`` keeps one state in a ring of rows (``store_last``), here with a step that
    returns a transposed view of its state; ``until`` stops the loop on the device values;
    ``go_backwards`` reads the sequence reversed; a non-recurrent output beside a state."""
    m, xs, lim = T.dmatrix("m"), T.dtensor3("xs"), T.dscalar("lim")
    folded, _ = symgraph.reduce(lambda x, acc: acc.T * 0.5 + x, xs, m, name="fold")
    doubling, _ = symgraph.scan(lambda p: (p * 2, until(abs(p).sum() * 2 > lim)),
                                outputs_info=m, n_steps=10, name="doubling")
    (back, sums), _ = symgraph.scan(lambda x, acc: (acc + x, x.sum()), sequences=xs,
                                    outputs_info=[m, None], go_backwards=True, name="back")
    outs = [folded, doubling, back, sums]
    rng = np.random.default_rng(2)
    vals = [rng.standard_normal((2, 2)), rng.standard_normal((4, 2, 2)), 40.0]
    (fc, got), (_, want) = (_run(md, [m, xs, lim], outs, vals) for md in ("cuda", "py"))
    nodes = _on_device(fc)
    assert any(any(n.op.store_last) for n in nodes), "no scan kept only its last value"
    _same(got, want)
    assert 0 < got[1].shape[0] < 10  # until stopped the loop early


def test_random_draws_inside_the_loop_match_the_py_backend():
    from symgraph.tensor.shared_randomstreams import RandomStreams

    srng = RandomStreams(seed=11)
    a = T.dvector("a")
    z, upd = symgraph.scan(lambda acc: acc + srng.uniform((3,)), outputs_info=a, n_steps=4)
    got = {}
    for mode in ("py", "cuda"):
        srng.seed(11)
        f = symgraph.function([a], z, updates=upd, mode=mode)
        got[mode] = [f(np.zeros(3)), f(np.zeros(3))]  # fresh numbers at each call
    _on_device(f)
    _same(got["cuda"], got["py"], rtol=1e-12, atol=0)
    assert not np.allclose(got["cuda"][0], got["cuda"][1])


def test_a_step_changing_shape_is_an_error_naming_the_scan():
    x = T.dvector("x")
    r, _ = symgraph.scan(lambda acc: T.concatenate([acc, acc]), outputs_info=x, n_steps=2,
                         name="grows")
    f = symgraph.function([x], r, mode="cuda")
    with pytest.raises(ScanError, match="grows"):
        f(np.ones(2))


class Twice(Op):
    """An op with only a numpy implementation."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        return [np.asarray(inputs[0] * 2, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return input_shapes


def test_a_step_with_an_op_without_device_code_falls_back_with_one_warning():
    linker._warned.clear()
    x = T.dvector("x")
    r, _ = symgraph.scan(lambda v, acc: Twice()(acc) + v, sequences=x,
                         outputs_info=T.constant(0.0), name="twice")
    with pytest.warns(linker.CudaFallbackWarning, match="Scan.*Twice") as rec:
        f = symgraph.function([x], r, mode="cuda")
    assert len([w for w in rec if issubclass(w.category, linker.CudaFallbackWarning)]) == 1
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 3.0])), [1.0, 4.0, 11.0])
    assert [n.op for n in f.executable.fallbacks] == [n.op for n in _scan_nodes(f)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", linker.CudaFallbackWarning)  # one-time
        g = symgraph.function([x], r * 2, mode="cuda")
    np.testing.assert_allclose(g(np.array([1.0])), [2.0])
