"""Training the ConvPool network on the bundled real MNIST sample reaches a stated accuracy.

Network: ConvPool(8 filters 5x5, 2x2 max-pool, ReLU) -> FullyConnected(30, ReLU) ->
Softmax(10), network3's layers, float32, mini-batch 10, eta 0.1, lmbda 0.1, plain SGD,
``np.random.seed(0)``; trained on the sample's 5,000 training digits, measured on its 1,000
validation and 1,000 test digits.

Measured (seed 0) when the test was written: after epochs 1..5 the test accuracy was
74.1, 87.6, 91.5, 94.0, 94.3 % and the validation accuracy 77.6, 88.8, 93.2, 94.3, 93.6 %;
an hour later, with kernels that round a little differently, 75.3, 88.2, 92.3, 92.5,
94.5 % and 76.6, 90.4, 93.2, 92.5, 94.2 %. With seeds 1 and 2 the 5th-epoch test accuracy
was 92.7 and 92.5 %. The test asks for >= 91 % on both after 5 epochs: a few points below
what the fixed seed reaches. The network is smaller than the classic 20-filter / 100-unit
one so that an epoch takes well under a second; compiling it takes most of the test's time.
"""
from __future__ import annotations

import numpy as np
import pytest

from symgraph.nn import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer

EPOCHS = 5
THRESHOLD = 0.91


@pytest.mark.slow
def test_convpool_on_bundled_sample_reaches_accuracy(mnist_sample, shared_pair, capsys):
    train, validation, test = (shared_pair(d) for d in mnist_sample)
    np.random.seed(0)
    bs = 10
    net = Network([
        ConvPoolLayer(image_shape=(bs, 1, 28, 28), filter_shape=(8, 1, 5, 5), poolsize=(2, 2),
                      activation_fn=ReLU),
        FullyConnectedLayer(n_in=8 * 12 * 12, n_out=30, activation_fn=ReLU),
        SoftmaxLayer(n_in=30, n_out=10)], bs)
    assert net.params[0].get_value().dtype == np.float32
    hist = net.SGD(train, EPOCHS, bs, 0.1, validation, test, lmbda=0.1)
    out = capsys.readouterr().out

    assert len(hist["test_accuracy"]) == EPOCHS
    assert hist["test_accuracy"][-1] >= THRESHOLD, hist["test_accuracy"]
    assert hist["validation_accuracy"][-1] >= THRESHOLD, hist["validation_accuracy"]
    assert hist["best_test_accuracy"] >= THRESHOLD
    # it learns steadily: the mean training cost falls every epoch
    assert all(b < a for a, b in zip(hist["cost"], hist["cost"][1:])), hist["cost"]
    assert f"Epoch {EPOCHS - 1}: validation accuracy" in out

    # prediction on new images agrees with the accuracy SGD measured on the test set
    (xt, yt) = mnist_sample[2]
    assert net.accuracy((xt, yt)) == pytest.approx(hist["test_accuracy"][-1], abs=1e-9)
