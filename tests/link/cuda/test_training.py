"""One training step of a tiny ConvPool network (the MNIST model in miniature):
cuda vs py, cost and every parameter."""
from __future__ import annotations

import numpy as np

import symgraph
from symgraph.nn.layers import ConvPoolLayer, ReLU, SoftmaxLayer
from symgraph.nn.network import Network


def _build(mode, steps_data):
    rng = np.random.RandomState(0)
    bs = 2
    layers = [ConvPoolLayer((2, 1, 3, 3), (bs, 1, 6, 6), (2, 2), activation_fn=ReLU, rng=rng),
              SoftmaxLayer(2 * 2 * 2, 3)]
    layers[1].w.set_value(rng.normal(0, 0.5, (8, 3)).astype("float32"))
    net = Network(layers, bs)
    x, y = steps_data
    tx = symgraph.shared(x, name="train_x")
    ty = symgraph.shared(y, name="train_y")
    f = net.build_train_fn((tx, ty), bs, eta=0.1, lmbda=0.1, mode=mode)
    return f, net.params


def test_convpool_training_step_matches_py(helpers, float32):
    rng = np.random.default_rng(17)
    data = (rng.random((6, 36)).astype("float32"), rng.integers(0, 3, 6).astype("int32"))
    fc, params = helpers.train(lambda mode: _build(mode, data), [(0,), (1,)],
                               rtol=1e-5, atol=1e-6)
    names = {type(n.op).__name__ for n in fc.maker.fgraph.apply_nodes}
    assert {"Conv2d", "Conv2dGradWeights", "Pool", "MaxPoolGrad", "SoftmaxNLL",
            "SoftmaxNLLGrad"} <= names
    # every parameter lives on the device; nothing fell back to the CPU
    assert fc.executable.fallbacks == []
    assert all(p.container.device_value is not None for p in params)


def test_mnist_sized_steps_on_a_real_gpu(gpu_only, helpers, float32):
    """On a GPU: the full-size MNIST model (20 5x5 filters, 2880 -> 100 -> 10) trains like
    the CPU backend, and keeps its parameters as device arrays."""
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    from symgraph.nn.layers import FullyConnectedLayer

    rng = np.random.default_rng(18)
    data = (rng.random((300, 784)).astype("float32"), rng.integers(0, 10, 300).astype("int32"))

    def build(mode):
        r = np.random.RandomState(1)
        layers = [ConvPoolLayer((20, 1, 5, 5), (100, 1, 28, 28), (2, 2), activation_fn=ReLU,
                                rng=r),
                  FullyConnectedLayer(2880, 100, activation_fn=ReLU, rng=r),
                  SoftmaxLayer(100, 10)]
        net = Network(layers, 100)
        tx, ty = (symgraph.shared(d) for d in data)
        return net.build_train_fn((tx, ty), 100, eta=0.1, mode=mode), net.params

    fc, params = helpers.train(lambda mode: build("numba" if mode == "py" else mode),
                               [(0,), (1,), (2,)], rtol=1e-3, atol=1e-4)
    assert all(isinstance(p.container.device_value.array, DeviceNDArray) for p in params)
