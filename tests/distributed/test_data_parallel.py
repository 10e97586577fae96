"""Data-parallel training on a local Ray instance (loopback only, 3 CPUs, one instance for
the whole module): equality with one process at N = 2 and 3, on the gloo group where
torch is installed and on the object store, dropout masks keyed by step and shard (a
resumed run equals an uninterrupted one), a killed worker (clear error, loadable
checkpoint; or elastic continuation), a silent worker (timeout, no hang), and the CLI's
--workers and sweep."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

ray = pytest.importorskip(
    "ray", reason="Ray is not installed: the distributed tests need the optional extra "
                  "(pip install 'symgraph[distributed]')")

import symgraph  # noqa: E402
import symgraph.tensor as T  # noqa: E402
from symgraph.datasets import load_data  # noqa: E402
from symgraph.distributed import (  # noqa: E402
    DataParallel,
    WorkerFailed,
    connect,
    data_parallel,
    function,
    keep_workers,
    sgd,
)
from symgraph.distributed.collective import gloo_available  # noqa: E402
from symgraph.distributed.data_parallel import running  # noqa: E402
from symgraph.nn import FullyConnectedLayer, Network, ReLU, SoftmaxLayer  # noqa: E402

SHARD = 4          # examples per worker and step
# every Network test trains 6 mini-batches of SHARD * N per epoch with these settings, so
# the workers of every test run the same graph (one compile, then the disk cache)
HYPER = {"eta": 0.1, "lmbda": 0.1, "momentum": 0.5}
#: the path ``allreduce="auto"`` takes here (gloo where torch is installed)
AUTO = "gloo" if gloo_available() else "object_store"


@pytest.fixture(scope="module", autouse=True)
def ray_local():
    """One local Ray instance for the module, on 127.0.0.1, no dashboard; the healthy
    workers of each test serve the next (``keep_workers``: process start-up, imports and
    compiled code are most of a short run's time here)."""
    started = not ray.is_initialized()
    if started:
        connect(num_cpus=3)      # what SGD(workers=N) starts: 127.0.0.1 only, no dashboard
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    with keep_workers():
        yield
    if started:
        ray.shutdown()


@pytest.fixture(autouse=True)
def float32():
    old = symgraph.config.floatX
    symgraph.config.floatX = "float32"
    yield
    symgraph.config.floatX = old


@pytest.fixture(scope="module")
def digits():
    """``digits(n)``: the first 6 * SHARD * n training digits of the bundled sample."""
    (x, y), _, _ = load_data()
    return lambda n: (x[: 6 * SHARD * n].astype("float32"), y[: 6 * SHARD * n])


def tiny_net(batch, p_dropout=0.0):
    np.random.seed(0)
    return Network([FullyConnectedLayer(784, 8, activation_fn=ReLU, p_dropout=p_dropout),
                    SoftmaxLayer(8, 10, p_dropout=p_dropout)], batch)


def values(net):
    return [p.get_value() for p in net.params]


def assert_params_close(a, b, rtol=2e-5, atol=2e-6):
    for pa, pb in zip(a, b):
        np.testing.assert_allclose(pa, pb, rtol=rtol, atol=atol)


# ------------------------------------------------------------ the graph API
def linreg_builder():
    """A builder (a closure, so Ray ships it by value) of a linear regression replica:
    each worker draws its own initial ``w`` (DataParallel broadcasts worker 0's)."""
    def build(rank, world_size, X, Y):
        w = symgraph.shared(np.random.randn(3).astype("float32"), name="w")
        xs = symgraph.shared(np.asarray(X, dtype="float32"))
        ys = symgraph.shared(np.asarray(Y, dtype="float32"))
        s, x, y = T.lscalar("s"), T.matrix("x"), T.vector("y")
        cost = ((T.dot(x, w) - y) ** 2).mean()
        return function([s], cost, [w], sgd(0.05),
                        givens={x: xs[s: s + SHARD], y: ys[s: s + SHARD]})
    return build


def linreg_reference(w, X, Y, batches):
    w = w.astype(np.float64)
    for b in batches:
        xb, yb = X[b: b + 3 * SHARD].astype(np.float64), Y[b: b + 3 * SHARD]
        w = w - 0.05 * 2 * xb.T @ (xb @ w - yb) / len(yb)
    return w


def test_graph_api_steps_equal_full_batch_then_elastic_after_a_kill(capsys):
    rng = np.random.RandomState(1)
    X, Y = rng.randn(48, 3).astype("float32"), rng.randn(48).astype("float32")
    with DataParallel(linreg_builder(), 3, (X, Y), elastic=True, step_timeout=120) as dp:
        assert dp.backend == AUTO
        dp.compile((0,))
        states = dp.get_states()
        w0 = states[0][0]
        assert all(np.array_equal(s[0], w0) for s in states.values())   # broadcast
        for b in (0, 12):
            dp.step([(b + r * SHARD,) for r in range(3)])
        states = dp.get_states()
        np.testing.assert_allclose(states[0][0], linreg_reference(w0, X, Y, [0, 12]),
                                   rtol=1e-5)
        assert all(np.array_equal(s[0], states[0][0]) for s in states.values())

        # kill worker 1: the step goes on with workers 0 and 2, which take its shard
        os.kill(dp.worker_pids()[1], signal.SIGKILL)
        dp.step([(24 + r * SHARD,) for r in range(3)])
        assert dp.live == [0, 2]
        out = capsys.readouterr().out
        assert "worker 1 of 3" in out and dp.backend == "object_store"
        if AUTO == "gloo":      # the group cannot lose a member: the object store takes over
            assert "average through the object store" in out
        dp.step([(36 + r * SHARD,) for r in range(3)])
        states = dp.get_states()
        assert sorted(states) == [0, 2]
        np.testing.assert_allclose(states[0][0],
                                   linreg_reference(w0, X, Y, [0, 12, 24, 36]), rtol=1e-5)
        assert np.array_equal(states[0][0], states[2][0])
        survivors = {dp.where[0][0], dp.where[2][0]}
    assert running() == []
    # the two healthy workers are kept for the next test's DataParallel
    assert {ray.get(a.where.remote())[0] for a in data_parallel._IDLE} >= survivors


def test_a_silent_worker_times_out_with_its_name():
    rng = np.random.RandomState(2)
    X, Y = rng.randn(16, 3).astype("float32"), rng.randn(16).astype("float32")
    dp = DataParallel(linreg_builder(), 2, (X, Y), step_timeout=3)
    pids = dp.worker_pids()
    pid = pids[1]
    dp.compile((0,))
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.perf_counter()
        # on gloo, worker 0 gives up waiting for worker 1 first (after 1.5 s): the error
        # still names worker 1, the silent one
        with pytest.raises(WorkerFailed, match=rf"step 1: worker 1 of 2 \(pid {pid} on "
                                               r"127.0.0.1\): did not answer within 3 s") as e:
            dp.step([(0,), (SHARD,)])
        assert time.perf_counter() - t0 < 15
        assert e.value.rank == 1 and e.value.pid == pid and e.value.step == 1
        assert dp.live == []          # every worker stopped behind the error
    finally:
        os.kill(pid, signal.SIGCONT)
    # workers of a failed run are not kept for the next one (keep_workers)
    kept = {ray.get(a.where.remote(), timeout=60)[0] for a in data_parallel._IDLE}
    assert not kept & set(pids.values())


# ------------------------------------------------------------ Network.SGD(workers=N)
@pytest.mark.parametrize("workers", [2, 3])
def test_sgd_on_workers_equals_one_process(digits, workers):
    batch = SHARD * workers
    ref = tiny_net(batch)
    h1 = ref.SGD(digits(workers), 1, batch, progress=False, verbose=False, **HYPER)
    net = tiny_net(batch)
    h2 = net.SGD(digits(workers), 1, batch, progress=False, verbose=False, workers=workers,
                 **HYPER)
    assert_params_close(values(net), values(ref))
    assert_params_close([v.get_value() for v in net.velocities],
                        [v.get_value() for v in ref.velocities])
    assert h2["cost"][0] == pytest.approx(h1["cost"][0], rel=1e-5)
    assert h2["training_images"] == h1["training_images"] == 6 * batch
    assert running() == [] or all(not dp.live for dp in running())


class InterruptAt:
    """A progress 'bar' that runs ``action()`` before mini-batch ``batch`` of ``epoch``."""

    def __init__(self, epoch, batch, action):
        self.at, self.action = (epoch, batch), action

    def __call__(self, batches, desc="", **kwargs):
        self.batches, self.epoch = batches, int(desc.split()[-1])
        return self

    def __iter__(self):
        for k in self.batches:
            if (self.epoch, k) == self.at:
                self.action()
            yield k

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def kill_worker_1():
    (dp,) = running()
    os.kill(dp.worker_pids()[1], signal.SIGKILL)


def test_dropout_repeats_resumes_and_both_paths_agree(digits, tmp_path):
    """Two epochs with dropout on 2 workers, three ways: uninterrupted (``auto``: gloo
    where torch is installed); stopped by Ctrl-C in the middle of epoch 1 on the object
    store, saved, loaded and resumed (``auto``); and elastic, one worker killed in the
    middle of epoch 1. The masks depend on (seed, step, shard) only, and at N = 2 every
    average rounds alike (a float32 sum halved, a float64 sum halved and rounded), so
    the parameters are identical."""
    kw = dict(progress=False, verbose=False, workers=2, seed=3, **HYPER)
    backends = []

    def note_backend(epoch, history):
        backends.append(running()[0].backend)

    whole = tiny_net(2 * SHARD, p_dropout=0.5)
    whole.SGD(digits(2), 2, 2 * SHARD, callback=note_backend, **kw)

    def ctrl_c():
        raise KeyboardInterrupt

    stopped = tiny_net(2 * SHARD, p_dropout=0.5)
    with pytest.raises(KeyboardInterrupt):
        stopped.SGD(digits(2), 2, 2 * SHARD, callback=note_backend, allreduce="object_store",
                    **dict(kw, progress=InterruptAt(1, 3, ctrl_c)))
    assert (stopped.training_state["epoch"], stopped.training_state["batch"]) == (1, 3)
    stopped.save(tmp_path / "stopped.npz")
    resumed = Network.load(tmp_path / "stopped.npz")
    resumed.SGD(digits(2), 2, 2 * SHARD, callback=note_backend, resume=True, **kw)
    assert backends == [AUTO, AUTO, "object_store", AUTO]
    for a, b in zip(values(resumed), values(whole)):
        assert np.array_equal(a, b)
    for a, b in zip(resumed.velocities, whole.velocities):
        assert np.array_equal(a.get_value(), b.get_value())
    # elastic: worker 1 killed before mini-batch 3 of epoch 1, worker 0 computes both
    # shards (with their own keys) from there on: the same parameters again
    survivor = tiny_net(2 * SHARD, p_dropout=0.5)
    survivor.SGD(digits(2), 2, 2 * SHARD, elastic=True,
                 **dict(kw, progress=InterruptAt(1, 3, kill_worker_1)))
    for a, b in zip(values(survivor), values(whole)):
        assert np.array_equal(a, b)
    # the masks are live: without dropout the same run ends elsewhere
    plain = tiny_net(2 * SHARD)
    plain.SGD(digits(2), 2, 2 * SHARD, progress=False, verbose=False, **HYPER)
    assert any(not np.allclose(a, b, atol=1e-4) for a, b in zip(values(whole), values(plain)))


def test_killed_worker_stops_sgd_names_it_and_the_checkpoint_loads(digits, tmp_path):
    ckpt = tmp_path / "net.npz"
    net = tiny_net(2 * SHARD)
    saved = {}

    def callback(epoch, history):
        net.save(ckpt)
        saved["params"] = values(net)

    with pytest.raises(WorkerFailed) as e:
        net.SGD(digits(2), 3, 2 * SHARD, progress=InterruptAt(1, 3, kill_worker_1), verbose=False,
                callback=callback, workers=2, step_timeout=60, **HYPER)
    msg = str(e.value)
    assert "worker 1 of 2 (pid" in msg and "its process died" in msg and "after step 9" in msg
    if AUTO == "gloo":      # worker 0 lost its peer in the all-reduce: listed after it
        bystander = msg.index("stopped waiting for the others")
        assert msg.index("worker 1 of 2") < msg.index("worker 0 of 2") < bystander
    assert e.value.rank == 1 and e.value.step == 10    # 6 steps per epoch: epoch 1, batch 3
    assert running() == []
    loaded = Network.load(ckpt)
    for a, b in zip(values(loaded), saved["params"]):
        assert np.array_equal(a, b)                     # the end of epoch 0, intact


def test_without_gloo_auto_takes_the_object_store_and_gloo_is_an_error(monkeypatch):
    """Workers that cannot join a gloo group (no torch there): ``auto`` averages through
    the object store and says why; ``allreduce="gloo"`` stops, naming them."""
    from symgraph.distributed import release_idle, runtime

    def no_gloo():        # a local class: Ray ships it by value
        class NoGloo(runtime.Replica):
            def collective_available(self):
                return False
        return NoGloo

    release_idle()        # kept workers would be plain Replicas
    monkeypatch.setattr(data_parallel, "Replica", no_gloo())
    rng = np.random.RandomState(3)
    X, Y = rng.randn(16, 3).astype("float32"), rng.randn(16).astype("float32")
    with DataParallel(linreg_builder(), 2, (X, Y)) as dp:
        assert dp.backend == "object_store"
        assert "worker 0 of 2 (pid" in dp.backend_note
        assert "torch with gloo is not installed there" in dp.backend_note
        dp.compile((0,))
        dp.step([(0,), (SHARD,)])
    with pytest.raises(WorkerFailed, match=r"allreduce='gloo'\): worker 0 of 2 \(pid .*torch "
                                           r"with gloo is not installed there"):
        DataParallel(linreg_builder(), 2, (X, Y), allreduce="gloo")
    assert running() == []


def test_cli_workers_and_sweep(tmp_path, capsys):
    from symgraph.nn import cli

    small = ["--limit", "40", "--validation-size", "20", "--batch-size", "4",
             "--filters", "2", "--hidden", "8", "--epochs", "1", "--no-progress"]
    assert cli.main(small + ["--workers", "2", "--elastic", "--allreduce", "object-store"]) == 0
    out = capsys.readouterr().out
    assert "2 Ray workers" in out and "Summary" in out

    plot = tmp_path / "sweep.png"
    assert cli.main(["sweep", "--eta", "0.03,0.1", "--lmbda", "0", "--workers", "2",
                     "--plot", str(plot)] + small) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(k for k, ln in enumerate(lines) if ln.startswith("eta"))
    rows = [ln.split() for ln in lines[header + 1: header + 3]]
    assert [r[:2] for r in rows] == [["0.03", "0"], ["0.1", "0"]]
    assert all(r[2].endswith("%") for r in rows)          # best validation accuracy
    assert plot.read_bytes()[:4] == b"\x89PNG"
