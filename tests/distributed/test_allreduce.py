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
