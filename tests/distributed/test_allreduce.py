"""The Ray-free half of symgraph.distributed: the all-reduced step with a communicator,
the averaging, the sweep grid and its table/plot. These run without Ray installed."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.distributed import (
    DistributedUnavailable,
    LocalCommunicator,
    function,
    mean_of,
    momentum_sgd,
    sgd,
    worker_seed,
)
from symgraph.distributed.sweep import format_table, grid, plot_sweep


class _TwoWorkers:
    """A communicator pairing two in-process 'workers' that call in lock-step: the first
    call is held, the second averages both (enough to test AllReduceFunction's maths)."""

    def __init__(self, other_grads):
        self.other = other_grads

    def allreduce_mean(self, arrays):
        return mean_of([arrays, self.other])


def test_allreduced_step_is_the_full_batch_step():
    rng = np.random.RandomState(0)
    X, Y = rng.randn(8, 3), rng.randn(8)
    x, y = T.dmatrix("x"), T.dvector("y")
    w = symgraph.shared(np.ones(3), name="w")
    cost = ((T.dot(x, w) - y) ** 2).mean()
    step = function([x, y], cost, [w], momentum_sgd(0.1, 0.5), mode="py")
    # worker 1's contribution computed by the same compiled gradients
    c1, _, g1 = step.gradients(X[4:], Y[4:])
    step.communicator = _TwoWorkers([np.reshape(c1, 1), *g1])
    mean_cost = step(X[:4], Y[:4])
    g_full = 2 * X.T @ (X @ np.ones(3) - Y) / 8
    v = -0.1 * g_full
    np.testing.assert_allclose(w.get_value(), np.ones(3) + v, rtol=1e-12)
    np.testing.assert_allclose(step.velocities[0].get_value(), v, rtol=1e-12)
    assert mean_cost == pytest.approx(np.mean((X @ np.ones(3) - Y) ** 2))
    # get_state / set_state: parameters then velocities
    state = step.get_state()
    assert len(state) == 2
    step.set_state([np.zeros(3)])
    assert not w.get_value().any() and step.velocities[0].get_value().any()


def test_local_communicator_and_errors():
    x = T.dvector("x")
    w = symgraph.shared(np.ones(2), name="w")
    step = function([x], ((w - x) ** 2).sum(), [w], sgd(0.5), outputs=[w * 2],
                    communicator=LocalCommunicator(), mode="py")
    cost, doubled = step(np.zeros(2))
    assert float(cost) == 2.0 and doubled.tolist() == [2.0, 2.0]
    assert w.get_value().tolist() == [0.0, 0.0]
    with pytest.raises(TypeError, match="params must be shared variables"):
        function([x], (x ** 2).sum(), [x], sgd(0.1))
    with pytest.raises(TypeError, match="give an update rule"):
        function([x], ((w - x) ** 2).sum(), [w], None)
    lonely = function([x], ((w - x) ** 2).sum(), [w], sgd(0.1), mode="py")
    with pytest.raises(RuntimeError, match="no communicator"):
        lonely(np.zeros(2))
    with pytest.raises(ValueError, match="1 gradients for 2 parameters"):
        v = symgraph.shared(np.ones(2), name="v")
        function([x], ((w - x) ** 2).sum() + v.sum(), [w, v], sgd(0.1), mode="py").apply(
            [np.zeros(2)])


def test_mean_of_sums_in_float64_and_keeps_dtype():
    parts = [[np.float32([1e8, 1])], [np.float32([1, 1])], [np.float32([-1e8, 1])]]
    (m,) = mean_of(parts)
    assert m.dtype == np.float32 and m.tolist() == pytest.approx([1 / 3, 1.0])
    assert mean_of([[np.ones(2)]], count=4)[0].tolist() == [0.25, 0.25]
    with pytest.raises(ValueError):
        mean_of([])


def test_worker_seeds_differ_and_repeat():
    seeds = [worker_seed(0, r) for r in range(4)]
    assert len(set(seeds)) == 4 and seeds == [worker_seed(0, r) for r in range(4)]
    assert worker_seed(1, 0) != worker_seed(0, 0)


def test_sweep_grid_table_and_plot(tmp_path):
    rows = grid({"eta": [0.01, 0.1], "lmbda": [0.0, 0.5]})
    assert rows[1] == {"eta": 0.01, "lmbda": 0.5} and len(rows) == 4
    for k, r in enumerate(rows):
        r["best_validation_accuracy"] = 0.5 + k / 10
    rows[3] = dict(rows[3], error="RayActorError: died")
    del rows[3]["best_validation_accuracy"]
    table = format_table(rows, ["eta", "lmbda", "best_validation_accuracy"])
    lines = table.splitlines()
    assert lines[0].split() == ["eta", "lmbda", "best_validation_accuracy", "error"]
    assert lines[2].split() == ["0.01", "0.5", "60.00%"]
    assert lines[4].split()[:3] == ["0.1", "0.5", "-"] and "RayActorError" in lines[4]
    path = tmp_path / "sweep.png"
    plot_sweep(rows, "eta", "best_validation_accuracy", "lmbda", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no values for 'eta'"):
        grid({"eta": []})


def test_missing_ray_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    from symgraph.distributed import require_ray

    with pytest.raises(DistributedUnavailable, match=r"symgraph\[distributed\]"):
        require_ray()


def test_sgd_workers_argument_errors():
    from symgraph.nn import FullyConnectedLayer, Network, SoftmaxLayer

    net = Network([FullyConnectedLayer(4, 3), SoftmaxLayer(3, 2)], 8)
    data = (np.zeros((16, 4), dtype=symgraph.config.floatX), np.zeros(16, dtype="int64"))
    with pytest.raises(ValueError, match=r"mini-batch \(8\) must split evenly over 3 workers"):
        net.SGD(data, 1, 8, 0.1, progress=False, workers=3)
    with pytest.raises(TypeError, match="seed apply only with workers=N"):
        net.SGD(data, 1, 8, 0.1, progress=False, seed=1)


def test_reseed_keys_the_dropout_streams():
    """``reseed(key)`` sets every random stream of the gradients from the key alone: the
    same key gives the same masks whatever was drawn before, another key other masks."""
    from symgraph.tensor.random import RandomStreams

    x = T.dvector("x")
    w = symgraph.shared(np.ones(6), name="w")
    srng = RandomStreams(1)
    mask = srng.binomial(size=(6,), p=0.5, dtype="float64")
    noise = srng.normal(size=(6,), dtype="float64")
    cost = ((w * mask * x) ** 2).sum() + (noise * w).sum()
    step = function([x], cost, [w], sgd(0.1), mode="py")
    assert len(step.random_streams) == 2
    grads = []
    for key in (7, 7, 8):
        step.reseed(key)
        step.gradients(np.ones(6))          # advances the streams
        step.reseed(key)
        grads.append(step.gradients(np.ones(6))[2][0])
    assert np.array_equal(grads[0], grads[1]) and not np.array_equal(grads[0], grads[2])


def test_gloo_group_mean_dtypes_and_timeout():
    """Two members of a gloo group (two threads of this process, on 127.0.0.1): the mean
    of mixed float32/float64 arrays, the same bits on both; then a member that never
    joins the all-reduce: the other raises CollectiveFailed within the timeout."""
    pytest.importorskip("torch", reason="the gloo path needs torch (optional)")
    import threading
    import time

    from symgraph.distributed.collective import CollectiveFailed, GlooGroup, gloo_available

    assert gloo_available()
    groups = [GlooGroup("127.0.0.1", 2.0, 60.0) for _ in range(2)]
    port = groups[0].listen()
    joins = [threading.Thread(target=g.join, args=("127.0.0.1", port, r, 2))
             for r, g in enumerate(groups)]
    for t in joins:
        t.start()
    for t in joins:
        t.join(30)
    assert all(g.pg is not None for g in groups)
    data = [[np.float32([1, 2, 3]), np.arange(4.0).reshape(2, 2), np.float32([[5]])],
            [np.float32([3, 4, 6]), np.ones((2, 2)), np.float32([[6]])]]
    out = [None, None]

    def reduce(r):
        out[r] = groups[r].allreduce_mean(data[r])

    threads = [threading.Thread(target=reduce, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for got, want in zip(out[0], mean_of(data)):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    for a, b in zip(out[0], out[1]):
        assert np.array_equal(a, b)
    t0 = time.perf_counter()
    with pytest.raises(CollectiveFailed, match="gloo all-reduce failed"):
        groups[0].allreduce_mean([np.float32([1])])
    assert time.perf_counter() - t0 < 10
    for g in groups:
        g.close()


def test_allreduce_option_needs_workers(capsys):
    from symgraph.nn import cli

    with pytest.raises(SystemExit) as e:
        cli.main(["--allreduce", "gloo", "--epochs", "1"])
    assert e.value.code == 2
    assert "--address, --elastic and --allreduce apply only with --workers N" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        cli.main(["--workers", "2", "--allreduce", "nccl"])
    assert "invalid choice: 'nccl'" in capsys.readouterr().err
