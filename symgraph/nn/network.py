"""``Network``: the classic network3 training program, built on ``symgraph.function``.

``Network(layers, mini_batch_size).SGD(...)`` prints what network3 printed (per-epoch
validation accuracy, whether it is the best so far, the corresponding test accuracy) and
adds a progress bar with the live cost, optional momentum, a returned history, atomic
checkpoints (``save`` / ``load``) and prediction on new images (``predict``).

Example::

    >>> import numpy as np
    >>> from symgraph.nn import Network, FullyConnectedLayer, SoftmaxLayer
    >>> from symgraph.datasets import load_data_shared
    >>> training_data, validation_data, test_data = load_data_shared()
    >>> net = Network([FullyConnectedLayer(n_in=784, n_out=30),
    ...                SoftmaxLayer(n_in=30, n_out=10)], mini_batch_size=10)
    >>> history = net.SGD(training_data, 1, 10, 0.1, validation_data, test_data)  # doctest: +SKIP
    >>> net.predict(np.zeros((2, 784), dtype='float32')).shape
    (2,)
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.compile.shared import SharedVariable
from symgraph.nn import layers as L

__all__ = ["Network", "size", "CHECKPOINT_FORMAT"]

#: the ``format`` field of checkpoints written by ``Network.save``
CHECKPOINT_FORMAT = "symgraph-network-1"


def size(data) -> int:
    """Number of examples in a ``(shared_x, shared_y)`` dataset.

    >>> import numpy as np, symgraph
    >>> size((symgraph.shared(np.zeros((7, 4))), None))
    7
    """
    return data[0].get_value(borrow=True).shape[0]


def _as_shared_data(data, what: str):
    """``(shared_x, y)`` as given, or ``(images, labels)`` arrays turned into shared data
    (images as floatX, labels as the int32 cast of shared floats, as network3 stores them)."""
    if data is None:
        return None
    try:
        x, y = data
    except (TypeError, ValueError):
        raise TypeError(f"{what}: expected a pair (images, labels), got "
                        f"{type(data).__name__}") from None
    if isinstance(x, SharedVariable):
        return x, y
    x = np.asarray(x, dtype=symgraph.config.floatX)
    y = np.asarray(y)
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"{what}: expected images of shape (n, pixels) and labels of shape "
                         f"(n,), got {x.shape} and {y.shape}")
    x = x.reshape(len(x), -1)
    shared_x = symgraph.shared(x, borrow=True)
    shared_y = symgraph.shared(np.asarray(y, dtype=symgraph.config.floatX), borrow=True)
    return shared_x, T.cast(shared_y, "int32")


class Network:
    """A stack of layers trained by mini-batch SGD (network3's ``Network``).

    ``layers``: e.g. ``[ConvPoolLayer(...), FullyConnectedLayer(...), SoftmaxLayer(...)]``;
    the last must be a ``SoftmaxLayer`` (it supplies the cost). ``mini_batch_size`` is
    fixed into the graph (the layers reshape to it).

    >>> from symgraph.nn import FullyConnectedLayer, SoftmaxLayer
    >>> net = Network([FullyConnectedLayer(784, 30), SoftmaxLayer(30, 10)], 10)
    >>> len(net.params)
    4
    """

    def __init__(self, layers, mini_batch_size: int):
        if not layers:
            raise ValueError("Network: needs at least one layer")
        if not hasattr(layers[-1], "cost"):
            raise TypeError(f"Network: the last layer must supply a cost (a SoftmaxLayer), got "
                            f"{type(layers[-1]).__name__}")
        self.layers = list(layers)
        self.mini_batch_size = int(mini_batch_size)
        if self.mini_batch_size < 1:
            raise ValueError(f"Network: mini_batch_size must be >= 1, got {mini_batch_size!r}")
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
        self.velocities: list = []
        self._predict = None
        self._predict_proba = None

    @property
    def n_in(self) -> int:
        """Number of input values per example (784 for MNIST)."""
        first = self.layers[0]
        if hasattr(first, "image_shape"):
            return int(np.prod(first.image_shape[1:]))
        return int(first.n_in)

    # ------------------------------------------------------------------ training
    def build_train_fn(self, training_data, mini_batch_size: int, eta: float,
                       lmbda: float = 0.0, momentum: float = 0.0,
                       num_training_batches: int | None = None, mode=None):
        """The compiled training step ``train_mb(i) -> cost`` on mini-batch ``i``.

        The cost is the log-likelihood plus ``0.5 * lmbda * sum(w**2) /
        num_training_batches`` (network3's L2 term, over every layer's ``w``). Plain SGD
        updates ``p -= eta * grad``; with ``momentum`` ``mu > 0`` each parameter has a
        velocity ``v = mu * v - eta * grad`` and ``p += v`` (velocities start at zero).
        """
        training_x, training_y = training_data
        if num_training_batches is None:
            num_training_batches = size(training_data) // mini_batch_size
        l2_norm_squared = sum((layer.w ** 2).sum() for layer in self.layers)
        cost = (self.layers[-1].cost(self)
                + 0.5 * lmbda * l2_norm_squared / num_training_batches)
        grads = T.grad(cost, self.params)
        if momentum:
            self.velocities = [
                symgraph.shared(np.zeros_like(p.get_value(borrow=True)), name=f"v_{p.name}")
                for p in self.params]
            updates = []
            for p, g, v in zip(self.params, grads, self.velocities):
                new_v = momentum * v - eta * g
                updates += [(v, new_v), (p, p + new_v)]
        else:
            self.velocities = []
            updates = [(param, param - eta * grad) for param, grad in zip(self.params, grads)]
        i = T.lscalar("i")
        bs = self.mini_batch_size
        return symgraph.function(
            [i], cost, updates=updates, mode=mode, name="train_mb",
            givens={self.x: training_x[i * bs: (i + 1) * bs],
                    self.y: training_y[i * bs: (i + 1) * bs]})

    def _accuracy_fn(self, data, mode=None):
        x, y = data
        i = T.lscalar("i")
        bs = self.mini_batch_size
        return symgraph.function(
            [i], self.layers[-1].accuracy(self.y), mode=mode, name="accuracy_mb",
            givens={self.x: x[i * bs: (i + 1) * bs], self.y: y[i * bs: (i + 1) * bs]})

    def SGD(self, training_data, epochs: int, mini_batch_size: int, eta: float,
            validation_data=None, test_data=None, lmbda: float = 0.0, momentum: float = 0.0,
            progress=True, verbose: bool = True, mode=None, callback=None) -> dict[str, Any]:
        """Train with mini-batch stochastic gradient descent; return the history.

        The data are ``(shared_x, shared_y)`` pairs as ``load_data_shared`` gives (or
        ``(images, labels)`` arrays, copied into shared variables). Each epoch visits the
        ``size // mini_batch_size`` training mini-batches in order; validation and test
        accuracies are measured on whole mini-batches, as in network3. With ``verbose``
        it prints network3's lines; ``progress`` shows a tqdm bar per epoch with the mean
        cost so far (``False`` for none, or a tqdm-like class to use).

        The returned dict holds per-epoch lists ``cost`` (mean training cost, including
        the L2 term), ``validation_accuracy``, ``test_accuracy`` (measured every epoch),
        ``seconds`` (training time of the epoch, evaluation excluded) and
        ``images_per_second``; and ``compile_seconds``, ``best_validation_accuracy``,
        ``best_epoch``, ``best_iteration`` and ``best_test_accuracy`` (the test accuracy
        at the epoch of best validation accuracy, network3's "corresponding" one).

        ``callback(epoch, history)``, if given, runs after each epoch's evaluation (e.g.
        to write a checkpoint); when it returns True, training stops after that epoch.

        >>> history = net.SGD(training_data, 3, 10, 0.1, validation_data, test_data,
        ...                   lmbda=0.1, momentum=0.9)   # doctest: +SKIP
        """
        if mini_batch_size != self.mini_batch_size:
            raise ValueError(f"SGD: mini_batch_size {mini_batch_size} differs from the "
                             f"network's {self.mini_batch_size}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        if epochs < 0:
            raise ValueError(f"SGD: epochs must be >= 0, got {epochs!r}")
        training_data = _as_shared_data(training_data, "SGD training_data")
        validation_data = _as_shared_data(validation_data, "SGD validation_data")
        test_data = _as_shared_data(test_data, "SGD test_data")
        num_training_batches = size(training_data) // mini_batch_size
        if num_training_batches == 0:
            raise ValueError(f"SGD: fewer training examples ({size(training_data)}) than one "
                             f"mini-batch ({mini_batch_size})")
        num_validation_batches = size(validation_data) // mini_batch_size if validation_data else 0
        num_test_batches = size(test_data) // mini_batch_size if test_data else 0

        t0 = time.perf_counter()
        train_mb = self.build_train_fn(training_data, mini_batch_size, eta, lmbda, momentum,
                                       num_training_batches, mode)
        validate_mb_accuracy = (self._accuracy_fn(validation_data, mode)
                                if num_validation_batches else None)
        test_mb_accuracy = self._accuracy_fn(test_data, mode) if num_test_batches else None
        # compile the machine code now (a dry run commits no update), so that the epoch
        # times measure training only
        train_mb.dry_run(0)
        for fn in (validate_mb_accuracy, test_mb_accuracy):
            if fn is not None:
                fn(0)
        compile_seconds = time.perf_counter() - t0

        history: dict[str, Any] = {
            "cost": [], "validation_accuracy": [], "test_accuracy": [], "seconds": [],
            "images_per_second": [], "compile_seconds": compile_seconds,
            "best_validation_accuracy": None, "best_epoch": None, "best_iteration": None,
            "best_test_accuracy": None, "mini_batch_size": mini_batch_size, "eta": eta,
            "lmbda": lmbda, "momentum": momentum,
            "training_images": num_training_batches * mini_batch_size}
        best_validation_accuracy = -1.0
        bar_cls = _progress_bar(progress)
        for epoch in range(epochs):
            te = time.perf_counter()
            costs = np.empty(num_training_batches)
            batches = range(num_training_batches)
            bar = (bar_cls(batches, desc=f"Epoch {epoch}", unit="batch", leave=True)
                   if bar_cls else batches)
            try:
                for minibatch_index in bar:
                    iteration = num_training_batches * epoch + minibatch_index
                    if verbose and not bar_cls and iteration % 1000 == 0:
                        print(f"Training mini-batch number {iteration}")
                    costs[minibatch_index] = train_mb(minibatch_index)
                    if bar_cls and (minibatch_index % 10 == 9
                                    or minibatch_index == num_training_batches - 1):
                        bar.set_postfix(cost=f"{costs[: minibatch_index + 1].mean():.4f}",
                                        refresh=False)
            finally:
                if bar_cls:
                    bar.close()
            epoch_seconds = time.perf_counter() - te
            history["seconds"].append(epoch_seconds)
            history["cost"].append(float(costs.mean()))
            history["images_per_second"].append(
                num_training_batches * mini_batch_size / epoch_seconds)
            iteration = num_training_batches * (epoch + 1) - 1
            test_accuracy = (float(np.mean([test_mb_accuracy(j) for j in range(num_test_batches)]))
                             if test_mb_accuracy is not None else None)
            history["test_accuracy"].append(test_accuracy)
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
                    history.update(best_validation_accuracy=validation_accuracy,
                                   best_epoch=epoch, best_iteration=iteration,
                                   best_test_accuracy=test_accuracy)
                    if verbose and test_accuracy is not None:
                        print(f"The corresponding test accuracy is {test_accuracy:.2%}")
            else:
                history["validation_accuracy"].append(None)
                if verbose:
                    print(f"Epoch {epoch}: training cost {costs.mean():.4f}"
                          + (f", test accuracy {test_accuracy:.2%}"
                             if test_accuracy is not None else ""))
                history.update(best_epoch=epoch, best_iteration=iteration,
                               best_test_accuracy=test_accuracy)
            if callback is not None and callback(epoch, history):
                break
        if verbose:
            print("Finished training network.")
            if history["best_validation_accuracy"] is not None:
                print(f"Best validation accuracy of {history['best_validation_accuracy']:.2%} "
                      f"obtained at iteration {history['best_iteration']}")
                if history["best_test_accuracy"] is not None:
                    print(f"Corresponding test accuracy of {history['best_test_accuracy']:.2%}")
        return history

    # ---------------------------------------------------------------- inference
    def _images(self, images) -> np.ndarray:
        a = np.asarray(images, dtype=symgraph.config.floatX)
        if a.size == self.n_in and a.ndim >= 1:  # one image: (784,), (28, 28), (1, 784), ...
            a = a.reshape(1, self.n_in)
        elif a.ndim >= 2:
            a = a.reshape(a.shape[0], int(np.prod(a.shape[1:])))
        if a.ndim != 2 or a.shape[1] != self.n_in:
            raise ValueError(f"predict: expected images of {self.n_in} values each (shape "
                             f"(n, {self.n_in}), or (n, 28, 28) or (n, 1, 28, 28) for MNIST), "
                             f"got an array of shape {np.shape(images)}")
        return a

    def _batched(self, fn, images: np.ndarray, out: np.ndarray) -> np.ndarray:
        bs = self.mini_batch_size
        n = images.shape[0]
        for s in range(0, n, bs):
            chunk = images[s: s + bs]
            k = chunk.shape[0]
            if k < bs:  # pad the last chunk to the network's fixed mini-batch size
                chunk = np.concatenate([chunk, np.zeros((bs - k, chunk.shape[1]), chunk.dtype)])
            out[s: s + k] = fn(chunk)[:k]
        return out

    def predict(self, images) -> np.ndarray:
        """Predicted class of each image: int64 array of shape (n,).

        ``images``: values scaled as in training ([0, 1] for MNIST), shaped ``(n, 784)``,
        ``(n, 28, 28)`` or ``(n, 1, 28, 28)``; one image (``(784,)`` or ``(28, 28)``) gives an
        array of one prediction. Inference uses no dropout.

        >>> net.predict(test_images[:3])      # doctest: +SKIP
        array([7, 2, 1])
        """
        a = self._images(images)
        if self._predict is None:
            self._predict = symgraph.function([self.x], self.layers[-1].y_out, name="predict")
        return self._batched(self._predict, a, np.empty(a.shape[0], dtype="int64"))

    def predict_proba(self, images) -> np.ndarray:
        """Class probabilities of each image (the softmax output), shape (n, classes).

        >>> net.predict_proba(test_images[:1]).sum()   # doctest: +SKIP
        1.0
        """
        a = self._images(images)
        if self._predict_proba is None:
            self._predict_proba = symgraph.function([self.x], self.output, name="predict_proba")
        n_out = self.layers[-1].n_out
        return self._batched(self._predict_proba, a,
                             np.empty((a.shape[0], n_out), dtype=symgraph.config.floatX))

    def accuracy(self, data) -> float:
        """Fraction of ``(images, labels)`` (numpy arrays) classified correctly.

        >>> net.accuracy((test_images, test_labels))   # doctest: +SKIP
        0.9812
        """
        images, labels = data
        labels = np.asarray(labels)
        return float(np.mean(self.predict(images) == labels))

    # ---------------------------------------------------------------- checkpoints
    def save(self, path) -> str:
        """Write the architecture and parameters to ``path`` (an ``.npz`` file), atomically.

        The file is written under a temporary name in the same folder, flushed to disk and
        then renamed over ``path``; so an interrupted save leaves any previous checkpoint
        at ``path`` intact and no partial file behind. Activation functions are recorded
        by name (``sigmoid``, ``tanh``, ``relu``, ``linear``) or, for your own, as
        ``module:qualname`` that ``load`` imports again.

        >>> net.save("net.npz")     # doctest: +SKIP
        'net.npz'
        """
        path = os.fspath(path)
        arch = []
        for layer in self.layers:
            kind = getattr(layer, "kind", None)
            if kind not in _LAYER_KINDS:
                raise TypeError(f"save: cannot record a layer of type {type(layer).__name__}; "
                                f"known: {', '.join(c.__name__ for c in _LAYER_KINDS.values())}")
            spec = {"kind": kind}
            if hasattr(layer, "activation_fn"):
                spec["activation"] = _act_name(layer.activation_fn)
            for k, v in layer.config().items():
                spec[k] = list(v) if isinstance(v, tuple) else v
            arch.append(spec)
        arrays = {f"p{k}": p.get_value(borrow=True) for k, p in enumerate(self.params)}
        meta = json.dumps({"format": CHECKPOINT_FORMAT, "mini_batch_size": self.mini_batch_size,
                           "layers": arch, "floatX": symgraph.config.floatX,
                           "params": [p.name for p in self.params]})
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, __meta__=np.array(meta), **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint is a plain file
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _fsync_dir(folder)
        return path

    @classmethod
    def load(cls, path, mini_batch_size: int | None = None) -> "Network":
        """Rebuild a network written by ``save``: same architecture, identical parameters.

        ``mini_batch_size`` (default: the saved one) may differ, e.g. to predict in larger
        batches. Parameters are restored bit for bit (cast to ``config.floatX`` if the
        checkpoint was written with another floatX). The global ``numpy.random`` state is
        left as it was.

        >>> net = Network.load("net.npz")     # doctest: +SKIP
        """
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"]))
                arrays = {k: data[k] for k in data.files if k != "__meta__"}
        except FileNotFoundError:
            raise
        except Exception as e:  # noqa: BLE001 - a corrupt file can fail in many ways
            raise ValueError(f"{path}: not a symgraph network checkpoint "
                             f"({type(e).__name__}: {e})") from None
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            fmt = meta.get("format") if isinstance(meta, dict) else None
            raise ValueError(f"{path}: unknown checkpoint format {fmt!r}; expected "
                             f"{CHECKPOINT_FORMAT!r}")
        mbs = int(mini_batch_size or meta["mini_batch_size"])
        state = np.random.get_state()
        try:
            layers = [_layer_from_spec(path, spec, mbs) for spec in meta["layers"]]
            net = cls(layers, mbs)
        finally:
            np.random.set_state(state)
        if len(arrays) != len(net.params):
            raise ValueError(f"{path}: holds {len(arrays)} parameter arrays, the architecture "
                             f"needs {len(net.params)}")
        for k, p in enumerate(net.params):
            a = arrays[f"p{k}"]
            want = p.get_value(borrow=True)
            if a.shape != want.shape:
                raise ValueError(f"{path}: parameter p{k} ({p.name}) has shape {a.shape}, the "
                                 f"architecture needs {want.shape}")
            p.set_value(a.astype(want.dtype, copy=False), borrow=True)
        return net


def _layer_from_spec(path, spec, mbs):
    kind = spec.get("kind")
    if kind not in _LAYER_KINDS:
        raise ValueError(f"{path}: unknown layer kind {kind!r}")
    rng = np.random.RandomState(0)  # throw-away initial weights; overwritten from the file
    if kind == "conv_pool":
        image_shape = (mbs,) + tuple(spec["image_shape"][1:])
        return L.ConvPoolLayer(tuple(spec["filter_shape"]), image_shape,
                               tuple(spec["poolsize"]), _act_from_name(path, spec["activation"]),
                               rng=rng)
    if kind == "fully_connected":
        return L.FullyConnectedLayer(spec["n_in"], spec["n_out"],
                                     _act_from_name(path, spec["activation"]),
                                     spec["p_dropout"], rng=rng)
    return L.SoftmaxLayer(spec["n_in"], spec["n_out"], spec["p_dropout"])


_LAYER_KINDS = {"conv_pool": L.ConvPoolLayer, "fully_connected": L.FullyConnectedLayer,
                "softmax": L.SoftmaxLayer}


def _act_name(fn) -> str:
    for k, v in L.ACTIVATIONS.items():
        if v is fn:
            return k
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if module and qualname and "<" not in qualname and module != "__main__":
        return f"{module}:{qualname}"
    raise TypeError(f"save: cannot record the activation function {fn!r}: use one of "
                    f"{', '.join(L.ACTIVATIONS)} or a function defined at the top level of an "
                    f"importable module")


def _act_from_name(path, name: str):
    if name in L.ACTIVATIONS:
        return L.ACTIVATIONS[name]
    module, _, qualname = str(name).partition(":")
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{path}: cannot find the activation function {name!r} "
                         f"({type(e).__name__}: {e})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: str) -> None:
    """Make the rename durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _progress_bar(progress):
    """The tqdm class to use: the notebook widget when ipywidgets is there, else the
    console bar (no warning); ``False``/``None`` for none; a class is used as it is."""
    if not progress:
        return None
    if progress is not True:
        return progress
    from tqdm import tqdm

    if "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is not None:
        try:
            from tqdm.notebook import tqdm as tqdm_notebook

            return tqdm_notebook
        except ImportError:  # pragma: no cover - broken ipywidgets
            pass
    return tqdm
