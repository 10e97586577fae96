"""``Network``: the classic network3 training program, built on ``symgraph.function``.

``Network(layers, mini_batch_size).SGD(...)`` prints what network3 printed (per-epoch
validation accuracy, best so far, the corresponding test accuracy) and adds a progress
bar with the live cost, optional momentum, a returned history, atomic checkpoints and
prediction on new images.

Example::

    net = Network([FullyConnectedLayer(n_in=784, n_out=30), SoftmaxLayer(n_in=30, n_out=10)], 10)
    history = net.SGD(training_data, 1, 10, 0.1, validation_data, test_data)
"""
from __future__ import annotations

import json
import os
import tempfile
import time

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.nn import layers as L


def size(data):
    """Number of examples in a (shared_x, shared_y) dataset."""
    return data[0].get_value(borrow=True).shape[0]


class Network:
    def __init__(self, layers, mini_batch_size):
        self.layers = layers
        self.mini_batch_size = mini_batch_size
        self.params = [param for layer in self.layers for param in layer.params]
        self.x = T.matrix("x")
        self.y = T.ivector("y")
        init_layer = self.layers[0]
        init_layer.set_inpt(self.x, self.x, self.mini_batch_size)
        for j in range(1, len(self.layers)):
            prev_layer, layer = self.layers[j - 1], self.layers[j]
            layer.set_inpt(prev_layer.output, prev_layer.output_dropout, self.mini_batch_size)
        self.output = self.layers[-1].output
        self.output_dropout = self.layers[-1].output_dropout
        self._predict = None

    # ------------------------------------------------------------------ training
    def build_train_fn(self, training_data, mini_batch_size, eta, lmbda=0.0, momentum=0.0,
                       num_training_batches=None, mode=None):
        """The compiled training step ``train_mb(i) -> cost`` over mini-batch ``i``."""
        training_x, training_y = training_data
        if num_training_batches is None:
            num_training_batches = size(training_data) // mini_batch_size
        l2_norm_squared = sum((layer.w ** 2).sum() for layer in self.layers)
        cost = (self.layers[-1].cost(self)
                + 0.5 * lmbda * l2_norm_squared / num_training_batches)
        grads = T.grad(cost, self.params)
        if momentum:
            self.velocities = [symgraph.shared(np.zeros_like(p.get_value()), name="v_" + (p.name or ""))
                               for p in self.params]
            updates = []
            for p, g, v in zip(self.params, grads, self.velocities):
                new_v = momentum * v - eta * g
                updates += [(v, new_v), (p, p + new_v)]
        else:
            updates = [(param, param - eta * grad) for param, grad in zip(self.params, grads)]
        i = T.lscalar("i")
        bs = self.mini_batch_size
        return symgraph.function(
            [i], cost, updates=updates, mode=mode,
            givens={self.x: training_x[i * bs: (i + 1) * bs],
                    self.y: training_y[i * bs: (i + 1) * bs]})

    def _accuracy_fn(self, data, mode=None):
        x, y = data
        i = T.lscalar("i")
        bs = self.mini_batch_size
        return symgraph.function(
            [i], self.layers[-1].accuracy(self.y), mode=mode,
            givens={self.x: x[i * bs: (i + 1) * bs], self.y: y[i * bs: (i + 1) * bs]})

    def SGD(self, training_data, epochs, mini_batch_size, eta, validation_data=None,
            test_data=None, lmbda=0.0, momentum=0.0, progress=True, verbose=True, mode=None):
        """Train with mini-batch stochastic gradient descent; returns the history dict.

        ``history`` has per-epoch ``cost``, ``validation_accuracy``, ``test_accuracy`` and
        ``seconds``, plus ``compile_seconds`` and ``best_validation_accuracy``.
        """
        if mini_batch_size != self.mini_batch_size:
            raise ValueError(f"SGD: mini_batch_size {mini_batch_size} differs from the "
                             f"network's {self.mini_batch_size}")
        num_training_batches = size(training_data) // mini_batch_size
        if num_training_batches == 0:
            raise ValueError(f"SGD: fewer training examples ({size(training_data)}) than one "
                             f"mini-batch ({mini_batch_size})")
        t0 = time.perf_counter()
        train_mb = self.build_train_fn(training_data, mini_batch_size, eta, lmbda, momentum,
                                       num_training_batches, mode)
        validate_mb_accuracy = self._accuracy_fn(validation_data, mode) if validation_data else None
        test_mb_accuracy = self._accuracy_fn(test_data, mode) if test_data else None
        # compile the machine code now (a dry run commits no update), so epoch times
        # measure training only
        train_mb.dry_run(0)
        compile_seconds = time.perf_counter() - t0
        num_validation_batches = size(validation_data) // mini_batch_size if validation_data else 0
        num_test_batches = size(test_data) // mini_batch_size if test_data else 0
        history = {"cost": [], "validation_accuracy": [], "test_accuracy": [], "seconds": [],
                   "compile_seconds": compile_seconds, "images_per_second": []}
        best_validation_accuracy = 0.0
        best_iteration = 0
        test_accuracy = None
        bar_cls = _progress_bar() if progress else None
        for epoch in range(epochs):
            te = time.perf_counter()
            costs = np.empty(num_training_batches)
            it = range(num_training_batches)
            bar = bar_cls(it, desc=f"epoch {epoch}", unit="batch", leave=True) if bar_cls else it
            for minibatch_index in bar:
                costs[minibatch_index] = train_mb(minibatch_index)
                if bar_cls and (minibatch_index % 50 == 0 or minibatch_index == num_training_batches - 1):
                    bar.set_postfix(cost=f"{costs[:minibatch_index + 1][-50:].mean():.4f}")
            if bar_cls:
                bar.close()
            epoch_seconds = time.perf_counter() - te
            history["seconds"].append(epoch_seconds)
            history["cost"].append(float(costs.mean()))
            history["images_per_second"].append(num_training_batches * mini_batch_size / epoch_seconds)
            iteration = num_training_batches * (epoch + 1) - 1
            if validate_mb_accuracy is not None:
                validation_accuracy = float(np.mean(
                    [validate_mb_accuracy(j) for j in range(num_validation_batches)]))
                history["validation_accuracy"].append(validation_accuracy)
                if verbose:
                    print(f"Epoch {epoch}: validation accuracy {validation_accuracy:.2%}")
                if validation_accuracy >= best_validation_accuracy:
                    if verbose:
                        print("This is the best validation accuracy to date.")
                    best_validation_accuracy = validation_accuracy
                    best_iteration = iteration
                    if test_mb_accuracy is not None:
                        test_accuracy = float(np.mean(
                            [test_mb_accuracy(j) for j in range(num_test_batches)]))
                        if verbose:
                            print(f"The corresponding test accuracy is {test_accuracy:.2%}")
                history["test_accuracy"].append(test_accuracy)
        if verbose:
            print("Finished training network.")
            if validate_mb_accuracy is not None:
                print(f"Best validation accuracy of {best_validation_accuracy:.2%} obtained at "
                      f"iteration {best_iteration}")
            if test_accuracy is not None:
                print(f"Corresponding test accuracy of {test_accuracy:.2%}")
        history["best_validation_accuracy"] = best_validation_accuracy
        history["best_test_accuracy"] = test_accuracy
        return history

    # ---------------------------------------------------------------- inference
    def predict(self, images):
        """Predicted digit for each image (array of shape (n, 784) or (n, 1, 28, 28))."""
        images = np.asarray(images, dtype=symgraph.config.floatX)
        n = images.shape[0]
        images = images.reshape(n, -1)
        if self._predict is None:
            self._predict = symgraph.function([self.x], self.layers[-1].y_out)
        bs = self.mini_batch_size
        out = np.empty(n, dtype="int64")
        for s in range(0, n, bs):
            chunk = images[s: s + bs]
            k = chunk.shape[0]
            if k < bs:  # pad the last chunk to the network's fixed batch size
                chunk = np.concatenate([chunk, np.zeros((bs - k,) + chunk.shape[1:], chunk.dtype)])
            out[s: s + k] = self._predict(chunk)[:k]
        return out

    def accuracy(self, data):
        """Fraction of ``(images, labels)`` classified correctly (numpy arrays)."""
        images, labels = data
        return float(np.mean(self.predict(images) == np.asarray(labels)))

    # ---------------------------------------------------------------- checkpoints
    def save(self, path):
        """Write parameters and architecture to ``path`` (npz), atomically.

        The file is written to a temporary name in the same folder and renamed, so an
        interrupted save leaves any previous checkpoint intact.
        """
        arch = [{"kind": layer.kind, "activation": _act_name(getattr(layer, "activation_fn", None)),
                 **{k: list(v) if isinstance(v, tuple) else v for k, v in layer.config().items()}}
                for layer in self.layers]
        arrays = {f"p{k}": p.get_value() for k, p in enumerate(self.params)}
        meta = json.dumps({"format": "symgraph-network-1", "mini_batch_size": self.mini_batch_size,
                           "layers": arch, "floatX": symgraph.config.floatX})
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, __meta__=np.array(meta), **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path, mini_batch_size=None):
        """Rebuild a network saved with ``save`` (same architecture and parameters)."""
        try:
            data = np.load(path, allow_pickle=False)
            meta = json.loads(str(data["__meta__"]))
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"{path}: not a symgraph network checkpoint ({e})") from None
        if meta.get("format") != "symgraph-network-1":
            raise ValueError(f"{path}: unknown checkpoint format {meta.get('format')!r}")
        mbs = mini_batch_size or meta["mini_batch_size"]
        layers = []
        for spec in meta["layers"]:
            act = L.ACTIVATIONS.get(spec.get("activation") or "sigmoid", L.sigmoid)
            if spec["kind"] == "conv_pool":
                image_shape = (mbs,) + tuple(spec["image_shape"][1:])
                layers.append(L.ConvPoolLayer(tuple(spec["filter_shape"]), image_shape,
                                              tuple(spec["poolsize"]), act))
            elif spec["kind"] == "fully_connected":
                layers.append(L.FullyConnectedLayer(spec["n_in"], spec["n_out"], act,
                                                    spec["p_dropout"]))
            elif spec["kind"] == "softmax":
                layers.append(L.SoftmaxLayer(spec["n_in"], spec["n_out"], spec["p_dropout"]))
            else:
                raise ValueError(f"{path}: unknown layer kind {spec['kind']!r}")
        net = cls(layers, mbs)
        for k, p in enumerate(net.params):
            p.set_value(data[f"p{k}"])
        return net


def _act_name(fn):
    for k, v in L.ACTIVATIONS.items():
        if v is fn and k != "ReLU":
            return k
    return None


def _progress_bar():
    try:
        from tqdm.auto import tqdm

        return tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
