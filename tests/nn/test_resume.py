"""Ctrl-C during ``Network.SGD`` and resuming from a checkpoint: a run stopped (between
epochs or in the middle of one), saved, loaded and resumed ends with the same history and
bit-identical parameters as a run that was never stopped."""
from __future__ import annotations

import signal

import numpy as np
import pytest

from symgraph.nn import FullyConnectedLayer, Network, ReLU, SoftmaxLayer

pytestmark = pytest.mark.slow     # trains several networks (about 10 s warm)

EPOCHS, ETA, LMBDA, MU = 2, 0.1, 0.1, 0.5


def net_with_dropout_and_momentum():
    np.random.seed(7)
    return Network([FullyConnectedLayer(784, 20, activation_fn=ReLU, p_dropout=0.2),
                    SoftmaxLayer(20, 10, p_dropout=0.2)], 10)


def train(net, data, **kw):
    train_set, val, test = data
    return net.SGD(train_set, EPOCHS, 10, ETA, val, test, lmbda=LMBDA, momentum=MU,
                   **{"progress": False, "verbose": False, **kw})


@pytest.fixture(scope="module")
def data(mnist_sample):
    (x, y), (xv, yv), (xt, yt) = mnist_sample
    return (x[:300], y[:300]), (xv[:100], yv[:100]), (xt[:100], yt[:100])


@pytest.fixture(scope="module")
def uninterrupted(data):
    """Two epochs never stopped; also writes the checkpoint of the end of epoch 0."""
    import symgraph

    old = symgraph.config.floatX
    symgraph.config.floatX = "float32"
    try:
        net = net_with_dropout_and_momentum()
        saved = {}

        def checkpoint_after_epoch_0(epoch, history):
            if epoch == 0:
                saved["state"] = net.training_state
                saved["params"] = [p.get_value().copy() for p in net.params]

        hist = train(net, data, callback=checkpoint_after_epoch_0)
        return net, hist, saved
    finally:
        symgraph.config.floatX = old


def assert_same_run(hist, net, ref_hist, ref_net):
    for key in ("cost", "validation_accuracy", "test_accuracy"):
        assert hist[key] == ref_hist[key], key
    for key in ("best_validation_accuracy", "best_epoch", "best_iteration",
                "best_test_accuracy"):
        assert hist[key] == ref_hist[key], key
    for p, q in zip(net.params, ref_net.params):
        assert p.get_value().tobytes() == q.get_value().tobytes(), p.name
    for v, w in zip(net.velocities, ref_net.velocities):
        assert v.get_value().tobytes() == w.get_value().tobytes()


def test_resume_after_an_epoch_checkpoint_equals_the_uninterrupted_run(
        data, uninterrupted, tmp_path):
    ref_net, ref_hist, _ = uninterrupted
    net = net_with_dropout_and_momentum()
    path = tmp_path / "net.npz"

    def save_and_stop(epoch, history):
        net.save(path)
        return True                                 # stop after epoch 0

    first = train(net, data, callback=save_and_stop)
    assert len(first["cost"]) == 1
    loaded = Network.load(path)
    assert loaded.training_state["epoch"] == 1 and loaded.training_state["batch"] == 0
    hist = train(loaded, data, resume=True)
    assert len(hist["cost"]) == EPOCHS
    assert_same_run(hist, loaded, ref_hist, ref_net)


class InterruptAt:
    """A tqdm-like progress class that sends this process SIGINT (Ctrl-C) just before
    mini-batch ``BATCH`` of epoch ``EPOCH``; ``TWICE`` sends a second one right after."""
    EPOCH, BATCH, TWICE = 1, 17, False

    def __init__(self, iterable, desc="", **kwargs):
        self.iterable, self.epoch = iterable, int(desc.split()[-1])

    def __iter__(self):
        for i in self.iterable:
            if self.epoch == self.EPOCH and i == self.BATCH:
                signal.raise_signal(signal.SIGINT)
                if self.TWICE:
                    signal.raise_signal(signal.SIGINT)
            yield i

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def test_ctrl_c_stops_after_the_running_mini_batch_and_resumes_mid_epoch(
        data, uninterrupted, tmp_path, capsys):
    ref_net, ref_hist, _ = uninterrupted
    net = net_with_dropout_and_momentum()
    with pytest.raises(KeyboardInterrupt):
        train(net, data, progress=InterruptAt, verbose=True)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handler restored
    out = capsys.readouterr()
    assert "stopping after this mini-batch" in out.err
    assert "Training interrupted in epoch 1 after mini-batch 17 of 30." in out.out
    st = net.training_state
    assert (st["epoch"], st["batch"], len(st["costs"])) == (1, 17, 17)
    assert len(st["history"]["cost"]) == 1          # epoch 0 finished, epoch 1 did not

    path = tmp_path / "interrupted.npz"
    net.save(path)
    loaded = Network.load(path)
    hist = train(loaded, data, resume=True)
    assert_same_run(hist, loaded, ref_hist, ref_net)


def test_a_second_ctrl_c_stops_at_once_with_the_last_boundary_recorded(data):
    net = net_with_dropout_and_momentum()

    class Twice(InterruptAt):
        EPOCH, BATCH, TWICE = 0, 5, True

    with pytest.raises(KeyboardInterrupt):
        train(net, data, progress=Twice)
    st = net.training_state
    assert (st["epoch"], st["batch"]) == (0, 5)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_resume_refuses_other_settings_or_no_state(data, uninterrupted, tmp_path):
    _, _, saved = uninterrupted
    net = net_with_dropout_and_momentum()
    with pytest.raises(ValueError, match="resume=True, but this network holds no training"):
        train(net, data, resume=True)
    net.training_state = saved["state"]
    train_set, val, test = data
    with pytest.raises(ValueError, match=r"trained with eta 0.1, this call gives 0.2"):
        net.SGD(train_set, EPOCHS, 10, 0.2, val, test, lmbda=LMBDA, momentum=MU,
                progress=False, verbose=False, resume=True)
    with pytest.raises(ValueError, match=r"trained with training_images 300, this call "
                                         r"gives 200"):
        net.SGD((train_set[0][:200], train_set[1][:200]), EPOCHS, 10, ETA, val, test,
                lmbda=LMBDA, momentum=MU, progress=False, verbose=False, resume=True)
