"""``symgraph-mnist``: train network3's ConvPool network on MNIST from the shell.

By default it trains on the small real MNIST sample shipped inside the package (5,000
training, 1,000 validation and 1,000 test digits); ``--data`` takes a folder of IDX files
(MNIST or Fashion-MNIST) or the classic ``mnist.pkl.gz``. The network is
ConvPool(FILTERS 5x5 filters, 2x2 max-pooling) -> FullyConnected(HIDDEN) -> Softmax(10),
trained by ``Network.SGD`` in float32 unless ``--float64``.

Example::

    symgraph-mnist --epochs 3 --batch-size 10 --eta 0.03 --lmbda 0.1 --plot curves.png
    symgraph-mnist --data /data/fashion-mnist --epochs 10 --save net.npz
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time

PROG = "symgraph-mnist"
ACTIVATION_NAMES = ("linear", "relu", "sigmoid", "tanh")  # symgraph.nn.ACTIVATIONS


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser of ``symgraph-mnist``.

    >>> build_parser().parse_args(["--epochs", "1"]).epochs
    1
    """
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=10, help="mini-batch size")
    p.add_argument("--eta", type=float, default=0.03, help="learning rate")
    p.add_argument("--lmbda", type=float, default=0.1, help="L2 regularisation")
    p.add_argument("--momentum", type=float, default=0.0, help="momentum (0: plain SGD)")
    p.add_argument("--data", default=None,
                   help="IDX folder or mnist.pkl.gz (default: the bundled sample)")
    p.add_argument("--validation-size", type=int, default=None,
                   help="validation images split off the end of the training file "
                        "(default: one sixth of it)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on only the first N training images")
    p.add_argument("--filters", type=int, default=20, help="convolution filters")
    p.add_argument("--hidden", type=int, default=100, help="units of the dense layer")
    p.add_argument("--activation", choices=ACTIVATION_NAMES, default="relu",
                   help="activation of the ConvPool and dense layers")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="dropout probability on the dense and softmax layers' inputs")
    p.add_argument("--plot", default=None, help="write the learning curves to this PNG")
    p.add_argument("--save", default=None, help="write the trained network to this .npz")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="where to train (default: symgraph.config.device, normally cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for the Numba kernels (default: Numba's choice)")
    p.add_argument("--float64", action="store_true", help="train in float64 (default float32)")
    p.add_argument("--seed", type=int, default=0, help="seeds numpy.random (weights, dropout)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _is_simulator(cuda_module) -> bool:
    """True when ``numba.cuda`` was imported as the CUDA simulator (NUMBA_ENABLE_CUDASIM)."""
    return cuda_module.to_device.__module__.startswith("numba.cuda.simulator")


def cuda_problem() -> str | None:
    """Why ``--device cuda`` cannot run here, or None when it can.

    >>> cuda_problem() is None or isinstance(cuda_problem(), str)
    True
    """
    try:
        from numba import cuda
    except Exception as e:  # noqa: BLE001
        return f"numba.cuda cannot be imported ({type(e).__name__}: {e})"
    if _is_simulator(cuda):
        return ("numba.cuda is the CUDA simulator (NUMBA_ENABLE_CUDASIM is set), which cannot "
                "train a network")
    try:
        available = bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver counts as no GPU
        available = False
    if not available:
        return ("no CUDA GPU was found (numba.cuda.is_available() is False: this machine has "
                "no NVIDIA GPU, or no working CUDA driver)")
    if importlib.util.find_spec("symgraph.link.cuda.linker") is None:
        return "this installation of symgraph has no CUDA backend (symgraph.link.cuda.linker)"
    return None


def main(argv=None) -> int:
    """Run the command; returns the exit status (argument and data errors exit with 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "filters", "hidden"):
        if getattr(args, name) < (0 if name == "epochs" else 1):
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.limit is not None and args.limit < args.batch_size:
        parser.error(f"--limit {args.limit} is smaller than one mini-batch ({args.batch_size})")
    if not 0.0 <= args.dropout < 1.0:
        parser.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if not 0.0 <= args.momentum < 1.0:
        parser.error(f"--momentum must be in [0, 1), got {args.momentum}")

    import numpy as np

    import symgraph

    device = args.device or symgraph.config.device
    if device == "cuda":
        problem = cuda_problem()
        if problem:
            parser.exit(2, f"{PROG}: error: --device cuda: {problem}. Train on the CPU with "
                           f"--device cpu.\n")
    symgraph.config.device = device
    symgraph.config.floatX = "float64" if args.float64 else "float32"
    if args.threads is not None:
        import numba

        if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
            parser.error(f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}")
        numba.set_num_threads(args.threads)

    from symgraph.datasets import DatasetFormatError, DatasetNotFoundError, mnist
    from symgraph.nn import ACTIVATIONS, ConvPoolLayer, FullyConnectedLayer, Network, SoftmaxLayer

    np.random.seed(args.seed)
    t0 = time.perf_counter()
    try:
        train, val, test = mnist.load_data(args.data, validation_size=args.validation_size)
    except (DatasetFormatError, DatasetNotFoundError, TypeError, ValueError) as e:
        parser.exit(2, f"{PROG}: error: {e}\n")
    if args.limit:
        train = (train[0][: args.limit], train[1][: args.limit])
    if train[0].shape[1] != 784:
        parser.exit(2, f"{PROG}: error: {args.data}: images of {train[0].shape[1]} pixels; "
                       f"this network takes 28x28 images\n")
    bs = args.batch_size
    if len(train[1]) < bs:
        parser.exit(2, f"{PROG}: error: {len(train[1])} training images, fewer than one "
                       f"mini-batch ({bs})\n")
    shared = [_to_shared(d) for d in (train, val, test)]
    source = "bundled MNIST sample" if args.data is None else args.data
    print(f"data: {len(train[1])} training, {len(val[1])} validation, {len(test[1])} test "
          f"images ({source}); loaded in {time.perf_counter() - t0:.1f}s")
    f, act = args.filters, ACTIVATIONS[args.activation]
    net = Network([
        ConvPoolLayer(image_shape=(bs, 1, 28, 28), filter_shape=(f, 1, 5, 5), poolsize=(2, 2),
                      activation_fn=act),
        FullyConnectedLayer(n_in=f * 12 * 12, n_out=args.hidden, activation_fn=act,
                            p_dropout=args.dropout),
        SoftmaxLayer(n_in=args.hidden, n_out=10, p_dropout=args.dropout)], bs)
    print(f"network: ConvPool({f} 5x5, {args.activation}) -> FullyConnected({args.hidden}, "
          f"{args.activation}) -> Softmax(10); mini-batch {bs}, eta {args.eta}, "
          f"lmbda {args.lmbda}, momentum {args.momentum}, dropout {args.dropout}, "
          f"{symgraph.config.floatX}, {device}")
    # the compile is silent and, on a machine's first run, long: say so before it starts
    print("compiling the training and accuracy functions (the first run on a machine also "
          "compiles symgraph's kernels, about a minute; later runs load them from the "
          "cache)", flush=True)
    hist = net.SGD(shared[0], args.epochs, bs, args.eta, shared[1], shared[2], lmbda=args.lmbda,
                   momentum=args.momentum, progress=not args.no_progress)
    print()
    print(summary(hist))
    if args.plot:
        write_plot(hist, args.plot)
        print(f"  learning curves       {args.plot}")
    if args.save:
        net.save(args.save)
        print(f"  saved network         {args.save}")
    return 0


def summary(hist: dict) -> str:
    """The final summary table printed by ``symgraph-mnist``, from an SGD history."""
    lines = ["Summary"]
    n_img = hist["training_images"]
    lines.append(f"  compile time          {hist['compile_seconds']:.2f} s")
    if hist["seconds"]:
        import numpy as np

        spe = float(np.mean(hist["seconds"]))
        lines.append(f"  seconds per epoch     {spe:.2f} s ({len(hist['seconds'])} epochs of "
                     f"{n_img} images, mini-batch {hist['mini_batch_size']})")
        lines.append(f"  images per second     {n_img / spe:,.0f}")
        lines.append(f"  final training cost   {hist['cost'][-1]:.4f}")
    if hist["best_validation_accuracy"] is not None:
        lines.append(f"  best validation       {hist['best_validation_accuracy']:.2%} "
                     f"(epoch {hist['best_epoch']})")
    if hist["best_test_accuracy"] is not None:
        lines.append(f"  test accuracy         {hist['best_test_accuracy']:.2%} "
                     f"(at the best validation epoch)")
    if hist["test_accuracy"] and hist["test_accuracy"][-1] is not None:
        lines.append(f"  final test accuracy   {hist['test_accuracy'][-1]:.2%}")
    return "\n".join(lines)


def _to_shared(data):
    """(images, labels) arrays -> (shared_x, int32 cast of shared float labels), as
    network3's ``load_data_shared`` does."""
    import numpy as np

    import symgraph
    import symgraph.tensor as T

    x = symgraph.shared(np.asarray(data[0], dtype=symgraph.config.floatX), borrow=True)
    y = symgraph.shared(np.asarray(data[1], dtype=symgraph.config.floatX), borrow=True)
    return x, T.cast(y, "int32")


def plot_history(hist: dict):
    """A matplotlib Figure of the learning curves: training cost, and validation and test
    accuracy per epoch (no pyplot state is touched).

    >>> fig = plot_history({"cost": [0.5, 0.3], "validation_accuracy": [0.9, 0.95],
    ...                     "test_accuracy": [0.89, 0.94]})
    """
    from matplotlib.figure import Figure

    epochs = list(range(1, len(hist["cost"]) + 1))
    fig = Figure(figsize=(10, 4))
    a1, a2 = fig.subplots(1, 2)
    a1.plot(epochs, hist["cost"], marker="o")
    a1.set_xlabel("epoch")
    a1.set_ylabel("training cost")
    a1.set_title("Training cost")
    for key, label, marker in (("validation_accuracy", "validation", "o"),
                               ("test_accuracy", "test", "s")):
        values = hist.get(key) or []
        if any(v is not None for v in values):
            a2.plot(epochs, [None if v is None else 100 * v for v in values], marker=marker,
                    label=label)
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.set_title("Accuracy")
    if a2.lines:
        a2.legend()
    for ax in (a1, a2):
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def write_plot(hist: dict, path) -> None:
    """Write ``plot_history(hist)`` to ``path`` (PNG unless the suffix says otherwise)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot_history(hist)
    FigureCanvasAgg(fig)
    fig.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
