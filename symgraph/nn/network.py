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

import contextlib
import importlib.util
import sys
import time
from typing import Any

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.compile.shared import SharedVariable
from symgraph.nn import checkpoint as _ckpt
from symgraph.nn import training as _training
from symgraph.nn.checkpoint import CHECKPOINT_FORMAT, CheckpointError

__all__ = ["Network", "size", "CHECKPOINT_FORMAT", "CheckpointError"]


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
        #: the training state ``save`` records (set by SGD and by ``load``), or None
        self.training_state: dict | None = None

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
            progress=True, verbose: bool = True, mode=None, callback=None,
            resume: bool = False, workers: int | None = None, address: str | None = None,
            elastic: bool = False, **distributed) -> dict[str, Any]:
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

        ``workers=N`` trains data-parallel on N Ray workers (``pip install
        'symgraph[distributed]'``; ``address`` joins a Ray cluster, else a local one is
        started): each mini-batch is split over the workers and their gradients averaged,
        so the result is that of one process up to float rounding; ``elastic`` continues
        on the surviving workers when one dies (else ``WorkerFailed`` names it);
        ``distributed`` passes ``seed``, ``step_timeout``, ``threads`` on to
        ``symgraph.distributed.train_function``.

        ``callback(epoch, history)``, if given, runs after each epoch's evaluation (e.g.
        to write a checkpoint); when it returns True, training stops after that epoch.

        Ctrl-C stops training after the running mini-batch and raises KeyboardInterrupt;
        the network then holds the parameters trained so far and ``save`` writes them with
        the training state. ``resume=True`` on a network from ``Network.load`` continues
        that state (at the next mini-batch, or the next epoch for a checkpoint written
        between epochs) up to ``epochs`` in all, with the same results as a run that was
        never stopped; the other arguments and the data must be those of the first run.

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

        hyper = {"mini_batch_size": mini_batch_size, "eta": eta, "lmbda": lmbda,
                 "momentum": momentum, "training_images": num_training_batches * mini_batch_size}
        resumed = self.training_state if resume else None
        if resume and resumed is None:
            raise ValueError("SGD: resume=True, but this network holds no training state "
                             "(Network.load a checkpoint saved during or after SGD)")
        if resumed is not None:
            _training.check(resumed, hyper)
        t0 = time.perf_counter()
        if workers:  # data-parallel on Ray: same steps, same history (symgraph.distributed)
            from symgraph.distributed import train_function

            train_mb = train_function(self, training_data, mini_batch_size, eta, lmbda,
                                      momentum, num_training_batches, mode, workers=workers,
                                      address=address, elastic=elastic, **distributed)
        elif distributed:
            raise TypeError(f"SGD: {', '.join(distributed)} apply only with workers=N")
        else:
            train_mb = self.build_train_fn(training_data, mini_batch_size, eta, lmbda,
                                           momentum, num_training_batches, mode)
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

        if resumed is not None:
            _training.restore(self, resumed)
        history: dict[str, Any] = {
            "cost": [], "validation_accuracy": [], "test_accuracy": [], "seconds": [],
            "images_per_second": [], "compile_seconds": compile_seconds,
            "best_validation_accuracy": None, "best_epoch": None, "best_iteration": None,
            "best_test_accuracy": None, "mini_batch_size": mini_batch_size, "eta": eta,
            "lmbda": lmbda, "momentum": momentum,
            "training_images": num_training_batches * mini_batch_size}
        start_epoch, start_batch, start_costs = 0, 0, []
        if resumed is not None:
            history.update(resumed["history"], compile_seconds=compile_seconds)
            for key in ("cost", "validation_accuracy", "test_accuracy", "seconds",
                        "images_per_second"):
                history[key] = list(history[key])
            start_epoch, start_batch = resumed["epoch"], resumed["batch"]
            start_costs = resumed["costs"]
        best_validation_accuracy = (-1.0 if history["best_validation_accuracy"] is None
                                    else history["best_validation_accuracy"])
        bar_cls = _progress_bar(progress)
        n_batches = num_training_batches
        run = _training.Interruptible(self, history, hyper, verbose, start_epoch, start_batch,
                                      start_costs)
        self.training_state = run.snapshot()
        # workers=N: the Ray workers stop when training ends, however it ends
        with run, (train_mb if workers else contextlib.nullcontext()):
            for epoch in range(start_epoch, epochs):
                first = start_batch if epoch == start_epoch else 0
                te = time.perf_counter()
                costs = np.empty(n_batches)
                costs[:first] = run.costs[:first] if epoch == start_epoch else []
                run.epoch, run.batch, run.costs = epoch, first, costs
                batches = range(first, n_batches)
                resumed_bar = {"initial": first, "total": n_batches} if first else {}
                bar = (bar_cls(batches, desc=f"Epoch {epoch}", unit="batch", leave=True,
                               **resumed_bar) if bar_cls else batches)
                try:
                    for minibatch_index in bar:
                        if run.requested:
                            break
                        iteration = n_batches * epoch + minibatch_index
                        if verbose and not bar_cls and iteration % 1000 == 0:
                            print(f"Training mini-batch number {iteration}")
                        costs[minibatch_index] = train_mb(minibatch_index)
                        run.batch = minibatch_index + 1
                        if bar_cls and (minibatch_index % 10 == 9
                                        or minibatch_index == n_batches - 1):
                            bar.set_postfix(cost=f"{costs[: minibatch_index + 1].mean():.4f}",
                                            refresh=False)
                finally:
                    if bar_cls:
                        bar.close()
                if run.requested and run.batch < n_batches:
                    raise KeyboardInterrupt
                epoch_seconds = time.perf_counter() - te
                iteration = n_batches * (epoch + 1) - 1
                test_accuracy = (float(np.mean([test_mb_accuracy(j)
                                                for j in range(num_test_batches)]))
                                 if test_mb_accuracy is not None else None)
                validation_accuracy = (float(np.mean([validate_mb_accuracy(j)
                                                      for j in range(num_validation_batches)]))
                                       if validate_mb_accuracy is not None else None)
                # the epoch's history entries all at once (an interrupt leaves none behind)
                history["seconds"].append(epoch_seconds)
                history["cost"].append(float(costs.mean()))
                history["images_per_second"].append(n_batches * mini_batch_size / epoch_seconds)
                history["test_accuracy"].append(test_accuracy)
                history["validation_accuracy"].append(validation_accuracy)
                if validation_accuracy is not None:
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
                    if verbose:
                        print(f"Epoch {epoch}: training cost {costs.mean():.4f}"
                              + (f", test accuracy {test_accuracy:.2%}"
                                 if test_accuracy is not None else ""))
                    history.update(best_epoch=epoch, best_iteration=iteration,
                                   best_test_accuracy=test_accuracy)
                run.epoch, run.batch = epoch + 1, 0
                self.training_state = run.snapshot()
                if run.requested:
                    raise KeyboardInterrupt
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
        ``module:qualname`` that ``load`` imports again. After (or during) ``SGD`` the
        training state goes in too (epoch, mini-batch, history, momentum velocities,
        dropout random streams), so that ``SGD(..., resume=True)`` on the loaded network
        continues exactly where this one stopped.

        >>> net.save("net.npz")     # doctest: +SKIP
        'net.npz'
        """
        return _ckpt.save(self, path, self.training_state)

    @classmethod
    def load(cls, path, mini_batch_size: int | None = None) -> "Network":
        """Rebuild a network written by ``save``: same architecture, identical parameters.

        ``mini_batch_size`` (default: the saved one) may differ, e.g. to predict in larger
        batches. Parameters are restored bit for bit (cast to ``config.floatX`` if the
        checkpoint was written with another floatX). The global ``numpy.random`` state is
        left as it was. A file that is not a checkpoint, or one with a missing or
        mistyped field, raises ``CheckpointError`` (a ValueError) naming the file and key.

        >>> net = Network.load("net.npz")     # doctest: +SKIP
        """
        return _ckpt.load(cls, path, mini_batch_size)


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
