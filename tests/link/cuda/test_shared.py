"""Shared variables of CUDA functions: device residency, updates on the device,
get_value/set_value round trips, mixing with CPU functions, givens slices as views."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.link.cuda import runtime


@pytest.fixture
def count_transfers(monkeypatch):
    """Counts uploads (host->device), downloads (device->host) and gather copies."""
    counts = {"upload": [], "download": 0, "copy": 0}
    up, down, copy = runtime.upload, runtime.download, runtime.copy_into

    def upload(a):
        counts["upload"].append(np.shape(a))
        return up(a)

    def download(a):
        counts["download"] += 1
        return down(a)

    def copy_into(x, out):
        counts["copy"] += 1
        return copy(x, out)

    monkeypatch.setattr(runtime, "upload", upload)
    monkeypatch.setattr(runtime, "download", download)
    monkeypatch.setattr(runtime, "copy_into", copy_into)
    return counts


def _sgd(mode, w0, lr=0.1):
    x = T.matrix("x")
    w = symgraph.shared(w0.copy(), name="w")
    b = symgraph.shared(np.zeros(w0.shape[1]), name="b")
    cost = ((T.dot(x, w) + b) ** 2).mean()
    gw, gb = T.grad(cost, [w, b])
    f = symgraph.function([x], cost, updates=[(w, w - lr * gw), (b, b - lr * gb)], mode=mode)
    return f, [w, b]


def test_updates_stay_on_device_across_calls(helpers, count_transfers):
    rng = np.random.default_rng(15)
    w0 = rng.standard_normal((4, 3))
    xs = [(rng.standard_normal((5, 4)),) for _ in range(4)]
    fc, (w, b) = helpers.train(lambda mode: _sgd(mode, w0), xs)
    # first call: w, b and x uploaded; later calls: only x (one upload per call)
    shapes = count_transfers["upload"]
    assert shapes.count((4, 3)) == 1 and shapes.count((3,)) == 1
    assert shapes.count((5, 4)) == len(xs)
    assert w.container.device_value is not None
    # one download per call (the cost) plus the two get_value() of helpers.train
    assert count_transfers["download"] == len(xs) + 2


def test_get_value_and_set_value_round_trip(helpers):
    w0 = np.arange(12.0).reshape(4, 3) / 10
    x = np.ones((2, 4))
    fc, (wc, bc) = _sgd("cuda", w0)
    fp, (wp, bp) = _sgd("py", w0)
    fc(x), fp(x)
    helpers.assert_same(wc.get_value(), wp.get_value(), 1e-12, 1e-12)
    # borrow=True gives the (synced) host array; modifying it does not reach the device
    wc.set_value(np.zeros((4, 3)))
    wp.set_value(np.zeros((4, 3)))
    assert wc.container.device_value is None
    helpers.assert_same(fc(x), fp(x), 1e-12, 1e-12)
    helpers.assert_same(wc.get_value(), wp.get_value(), 1e-12, 1e-12)
    v = wc.get_value()
    v[...] = 5.0  # a copy: the shared value is unchanged
    helpers.assert_same(wc.get_value(), wp.get_value(), 1e-12, 1e-12)
    with pytest.raises(TypeError):
        wc.set_value(np.zeros((4, 3, 1)))


def test_cpu_and_cuda_functions_share_values(helpers):
    w = symgraph.shared(np.ones(3), name="w")
    inc = T.dscalar("inc")
    f_gpu = symgraph.function([inc], [], updates=[(w, w * 2.0 + inc)], mode="cuda")
    f_cpu = symgraph.function([inc], [], updates=[(w, w - inc)], mode="numba")
    read_cpu = symgraph.function([], w.sum(), mode="py")
    f_gpu(1.0)                  # w = 3 on the device, host copy stale
    assert float(read_cpu()) == 9.0   # the CPU function syncs it first
    f_cpu(1.0)                  # w = 2 on the host: the device copy is dropped
    f_gpu(0.0)                  # uploads 2, computes 4 on the device
    np.testing.assert_array_equal(w.get_value(), np.full(3, 4.0))
    f2 = pickle.loads(pickle.dumps(w))
    np.testing.assert_array_equal(f2.get_value(), np.full(3, 4.0))


def test_givens_slice_of_a_shared_dataset_is_a_view(helpers, count_transfers):
    rng = np.random.default_rng(16)
    data = rng.standard_normal((12, 4))
    labels = rng.integers(0, 3, 12).astype("int32")

    def build(mode):
        dx = symgraph.shared(data, name="dx")
        dy = symgraph.shared(labels, name="dy")
        w = symgraph.shared(np.zeros((4, 3)), name="w")
        x = T.matrix("x")
        y = T.ivector("y")
        i = T.lscalar("i")
        p = T.nnet.softmax(T.dot(x, w))
        cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
        f = symgraph.function([i], cost, updates=[(w, w - 0.5 * T.grad(cost, w))], mode=mode,
                              givens={x: dx[i * 3:(i + 1) * 3], y: dy[i * 3:(i + 1) * 3]})
        return f, [w, dx]

    helpers.train(build, [(k,) for k in (0, 1, 2, 3, 1)])
    shapes = count_transfers["upload"]
    assert shapes.count((12, 4)) == 1 and shapes.count((12,)) == 1  # once, then views
    assert (3, 4) not in shapes and (3,) not in shapes


def test_subtensor_view_shares_device_memory():
    from symgraph.link.cuda.impl.subtensor import subtensor
    from symgraph.tensor.subtensor import Subtensor

    d = runtime.upload(np.arange(20.0).reshape(5, 4))
    op = Subtensor((("slice", "?", "?", None),))
    v = subtensor(op, d, [1, 3])
    np.testing.assert_array_equal(runtime.download(v), np.arange(20.0).reshape(5, 4)[1:3])
    if runtime.using_simulator():
        assert np.shares_memory(v._ary, d._ary)
    else:  # pragma: no cover - GPU only
        assert v.gpu_data.device_ctypes_pointer.value == (
            d.gpu_data.device_ctypes_pointer.value + 4 * 8)


def test_update_aliasing_and_failed_calls(helpers):
    def build(mode):
        a = symgraph.shared(np.arange(6.0).reshape(2, 3), name="a")
        b = symgraph.shared(np.zeros((3, 2)), name="b")
        c = symgraph.shared(np.zeros((2, 3)), name="c")
        s = T.dscalar("s")
        new_a = a * s
        f = symgraph.function([s], [], mode=mode,
                              updates=[(a, new_a), (b, a.T), (c, new_a)])
        return f, [a, b, c]

    fc, (a, b, c) = helpers.train(build, [(2.0,), (3.0,), (0.5,)])
    x = T.matrix("x")
    f = symgraph.function([x], [], updates=[(a, a + x.reshape((2, 3)))], mode="cuda")
    before = a.get_value()
    with pytest.raises(ValueError):
        f(np.ones((4, 4)))
    np.testing.assert_array_equal(a.get_value(), before)


def test_scalar_shared_updated_from_the_device(helpers):
    """A 0-d shared variable is read on the host (by value) but may be updated with a value
    computed on the device; 0-d values survive uploads (shape (), not (1,))."""
    def build(mode):
        total = symgraph.shared(0.0, name="total")
        steps = symgraph.shared(np.int64(0), name="steps")
        x = T.vector("x")
        s = T.dscalar("s")
        f = symgraph.function([x, s], [(x * s).sum(), total * 1.0], mode=mode,
                              updates=[(total, total + (T.exp(x) * s).sum()),
                                       (steps, steps + 1)])
        return f, [total, steps]

    fc, (total, steps) = helpers.train(build, [(np.ones(3), 2.0), (np.arange(3.0), 0.5)])
    assert int(steps.get_value()) == 2 and total.get_value().shape == ()
    assert runtime.upload(np.float32(3)).shape == ()
