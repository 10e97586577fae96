"""Network.SGD on small dense networks: history, classic prints, progress bar, momentum,
dropout, prediction. (The ConvPool accuracy test is in test_mnist_accuracy.py.)"""
from __future__ import annotations

import re

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.nn import (
    ConvPoolLayer,
    FullyConnectedLayer,
    Network,
    ReLU,
    SoftmaxLayer,
    linear,
    sigmoid,
    tanh,
)


def fc_net(hidden=20, p_dropout=0.0, seed=0, bs=10, activation_fn=ReLU):
    np.random.seed(seed)
    return Network([FullyConnectedLayer(784, hidden, activation_fn=activation_fn,
                                        p_dropout=p_dropout),
                    SoftmaxLayer(hidden, 10, p_dropout=p_dropout)], bs)


def params(net):
    return [p.get_value() for p in net.params]


def np_forward(net, x):
    """The inference pass of a ReLU dense + softmax network, in numpy (float64)."""
    fc, sm = net.layers
    w1, b1, w2, b2 = (p.get_value().astype(np.float64) for p in net.params)
    h = np.maximum(0.0, (1 - fc.p_dropout) * x.astype(np.float64) @ w1 + b1)
    z = (1 - sm.p_dropout) * h @ w2 + b2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ SGD and its history
def test_sgd_history_prints_and_learning(small_data, shared_pair, capsys):
    train, val, test = small_data
    net = fc_net()
    before = net.accuracy(test)
    hist = net.SGD(shared_pair(train), 3, 10, 0.1, shared_pair(val), shared_pair(test),
                   lmbda=0.1, progress=False)
    out = capsys.readouterr().out

    for key in ("cost", "validation_accuracy", "test_accuracy", "seconds", "images_per_second"):
        assert len(hist[key]) == 3, key
    assert all(s > 0 for s in hist["seconds"]) and hist["compile_seconds"] > 0
    assert hist["training_images"] == 500
    assert hist["cost"][2] < hist["cost"][0]        # it learns
    assert min(hist["validation_accuracy"]) > 0.5 and before < 0.3
    best = int(np.argmax(hist["validation_accuracy"][::-1]))  # ties: the latest epoch wins
    best = 2 - best
    assert hist["best_epoch"] == best
    assert hist["best_validation_accuracy"] == hist["validation_accuracy"][best]
    assert hist["best_test_accuracy"] == hist["test_accuracy"][best]
    assert hist["best_iteration"] == 50 * (best + 1) - 1
    # the accuracies are those of the trained parameters (last epoch)
    assert hist["test_accuracy"][-1] == pytest.approx(net.accuracy(test), abs=1e-9)

    # network3's lines, in its order
    assert "Training mini-batch number 0\n" in out
    for epoch in range(3):
        assert f"Epoch {epoch}: validation accuracy {hist['validation_accuracy'][epoch]:.2%}" in out
    assert out.count("This is the best validation accuracy to date.") >= 1
    assert "The corresponding test accuracy is" in out
    assert out.rstrip().endswith(
        f"Finished training network.\n"
        f"Best validation accuracy of {hist['best_validation_accuracy']:.2%} obtained at "
        f"iteration {hist['best_iteration']}\n"
        f"Corresponding test accuracy of {hist['best_test_accuracy']:.2%}")


def test_progress_bar_live_cost_numpy_data_and_callback(small_data, capsys):
    train, val, _ = small_data
    net = fc_net()
    seen = []

    def stop_after_first_epoch(epoch, history):
        seen.append((epoch, len(history["cost"])))
        return True

    # numpy (images, labels) are accepted as well as shared data; no test set; the
    # callback runs after each epoch and stops training by returning True
    hist = net.SGD(train, 3, 10, 0.1, val, None, progress=True, verbose=False,
                   callback=stop_after_first_epoch)
    assert seen == [(0, 1)] and len(hist["cost"]) == len(hist["validation_accuracy"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""                       # verbose=False: no prints
    assert "Epoch 0" in captured.err and "50/50" in captured.err
    costs = [float(c) for c in re.findall(r"cost=([0-9.]+)", captured.err)]
    assert costs, captured.err
    assert costs[-1] == pytest.approx(hist["cost"][0], abs=1e-4)  # the bar ends at the mean
    assert hist["test_accuracy"] == [None] and hist["best_test_accuracy"] is None


def test_sgd_rejects_bad_arguments(small_data):
    train, val, test = small_data
    net = fc_net(bs=10)
    with pytest.raises(ValueError, match="mini_batch_size 20 differs from the network's 10"):
        net.SGD(train, 1, 20, 0.1)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.5"):
        net.SGD(train, 1, 10, 0.1, momentum=1.5)
    with pytest.raises(ValueError, match=r"fewer training examples \(5\) than one mini-batch"):
        net.SGD((train[0][:5], train[1][:5]), 1, 10, 0.1)
    with pytest.raises(ValueError, match=r"images of shape \(n, pixels\).*\(500, 784\) and \(3,\)"):
        net.SGD((train[0], train[1][:3]), 1, 10, 0.1)
    with pytest.raises(TypeError, match="last layer must supply a cost"):
        Network([FullyConnectedLayer(784, 10)], 10)
    with pytest.raises(ValueError, match=r"p_dropout must be in \[0, 1\), got 1.0"):
        FullyConnectedLayer(784, 10, p_dropout=1.0)


# ------------------------------------------------------------------ momentum
def test_momentum_steps_are_the_classic_formula(small_data, shared_pair):
    """v = mu*v - eta*g; p += v: the first step equals plain SGD, the second adds mu*v1."""
    train, _, _ = small_data
    mu, eta = 0.9, 0.1
    data = shared_pair(train)
    plain, mom = fc_net(), fc_net()
    assert all(np.array_equal(a, b) for a, b in zip(params(plain), params(mom)))
    p0 = params(plain)
    step_plain = plain.build_train_fn(data, 10, eta, lmbda=0.1)
    step_mom = mom.build_train_fn(data, 10, eta, lmbda=0.1, momentum=mu)
    assert len(mom.velocities) == 4 and not plain.velocities

    step_plain(0)
    step_mom(0)
    p1 = params(plain)
    for a, b in zip(p1, params(mom)):           # v0 = 0: identical first step
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    for v, a, b in zip(mom.velocities, p1, p0):
        np.testing.assert_allclose(v.get_value(), a - b, rtol=0, atol=1e-7)

    # second step from the same parameters: momentum adds exactly mu * v1
    for p, a in zip(mom.params, p1):
        p.set_value(a)
    step_plain(1)
    step_mom(1)
    changed = 0
    for a, b, x1, x0 in zip(params(plain), params(mom), p1, p0):
        np.testing.assert_allclose(b - a, mu * (x1 - x0), rtol=0, atol=2e-6)
        changed += np.abs(x1 - x0).max() > 1e-4
    assert changed >= 2


def test_momentum_trains_differently_and_lowers_the_cost(small_data):
    train, val, _ = small_data
    h_plain = fc_net().SGD(train, 2, 10, 0.02, val, progress=False, verbose=False)
    net = fc_net()
    h_mom = net.SGD(train, 2, 10, 0.02, val, momentum=0.9, progress=False, verbose=False)
    assert h_mom["momentum"] == 0.9
    # same start and learning rate: momentum (an effective step of eta/(1-mu)) gets lower
    assert h_mom["cost"][1] < h_plain["cost"][1]
    assert h_mom["cost"] != h_plain["cost"]


# ------------------------------------------------------------------ dropout
def test_dropout_training_graph_is_random_inference_is_scaled(small_data):
    _, _, test = small_data
    p = 0.5
    net = fc_net(p_dropout=p, hidden=200)
    fc = net.layers[0]
    x = np.asarray(test[0][:10], dtype="float32")

    # training graph: a fresh mask on every call, about p of the inputs dropped
    dropped_in = symgraph.function([net.x], fc.inpt_dropout)
    a, b = dropped_in(x), dropped_in(x)
    assert not np.array_equal(a, b)
    nonzero = x != 0
    for d in (a, b):
        kept = d[nonzero] != 0
        assert abs(kept.mean() - (1 - p)) < 0.08, kept.mean()
        np.testing.assert_array_equal(d[d != 0], x[d != 0])   # kept units are not rescaled

    # inference graph: deterministic, weights scaled by (1 - p_dropout)
    np.testing.assert_allclose(net.predict_proba(x), np_forward(net, x), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(net.predict(x), net.predict(x))

    # the training cost uses the masks: two evaluations on one batch differ (with
    # non-zero softmax weights: at their zero init the cost is log(10) whatever the mask)
    sm = net.layers[1]
    sm.w.set_value(np.random.RandomState(1).normal(size=(200, 10)).astype("float32"))
    cost = symgraph.function([net.x, net.y], net.layers[-1].cost(net))
    labels = np.asarray(test[1][:10], dtype="int32")
    assert cost(x, labels) != cost(x, labels)


def test_dropout_is_reproducible_from_the_numpy_seed_and_changes_training(small_data):
    train, _, _ = small_data

    def train_once(p_dropout, seed):
        net = fc_net(p_dropout=p_dropout, seed=seed)
        hist = net.SGD(train, 1, 10, 0.1, progress=False, verbose=False)
        return hist["cost"], params(net)

    cost_a, pa = train_once(0.3, seed=5)
    cost_b, pb = train_once(0.3, seed=5)
    cost_0, p0 = train_once(0.0, seed=5)
    assert cost_a == cost_b
    assert all(np.array_equal(x, y) for x, y in zip(pa, pb))
    assert cost_a != cost_0
    assert not np.allclose(pa[0], p0[0])


# ------------------------------------------------------------------ prediction
def test_predict_shapes_padding_and_reference(small_data):
    train, _, test = small_data
    net = fc_net(bs=10)
    net.SGD(train, 1, 10, 0.1, progress=False, verbose=False)
    x, y = test[0][:23], test[1][:23]        # not a multiple of the mini-batch size
    proba = net.predict_proba(x)
    assert proba.shape == (23, 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(proba, np_forward(net, x), rtol=1e-4, atol=1e-6)
    pred = net.predict(x)
    assert pred.dtype == np.int64 and pred.shape == (23,)
    np.testing.assert_array_equal(pred, proba.argmax(axis=1))
    np.testing.assert_array_equal(net.predict(x.reshape(23, 28, 28)), pred)
    np.testing.assert_array_equal(net.predict(x.reshape(23, 1, 28, 28)), pred)
    np.testing.assert_array_equal(net.predict(x[4].reshape(28, 28)), pred[4:5])   # one image
    np.testing.assert_array_equal(net.predict(x[4]), pred[4:5])
    assert net.predict(x[:0]).shape == (0,)
    assert net.accuracy((x, y)) == pytest.approx(np.mean(pred == y))
    with pytest.raises(ValueError, match=r"expected images of 784 values each.*\(5, 700\)"):
        net.predict(np.zeros((5, 700)))


@pytest.mark.parametrize("activation_fn, ref", [
    (sigmoid, lambda z: 1 / (1 + np.exp(-z))), (tanh, np.tanh), (linear, lambda z: z),
    (ReLU, lambda z: np.maximum(0, z))])
def test_activation_functions(activation_fn, ref):
    z = T.vector("z")
    f = symgraph.function([z], activation_fn(z))
    v = np.linspace(-3, 3, 13).astype("float32")
    np.testing.assert_allclose(f(v), ref(v.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_conv_pool_layer_shapes_and_errors():
    layer = ConvPoolLayer(image_shape=(10, 1, 28, 28), filter_shape=(20, 1, 5, 5))
    assert layer.output_shape == (20, 12, 12) and layer.n_out == 2880
    assert layer.w.get_value().dtype == np.float32
    with pytest.raises(ValueError, match="expects 3 input feature maps, image_shape"):
        ConvPoolLayer(image_shape=(10, 1, 28, 28), filter_shape=(20, 3, 5, 5))
    with pytest.raises(ValueError, match="larger than the images"):
        ConvPoolLayer(image_shape=(10, 1, 4, 4), filter_shape=(20, 1, 5, 5))
