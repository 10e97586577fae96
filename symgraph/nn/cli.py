"""``symgraph-mnist``: train network3's ConvPool network on MNIST from the shell, and
evaluate a saved one.

By default it trains on the small real MNIST sample shipped inside the package (5,000
training, 1,000 validation and 1,000 test digits); ``--data`` takes a folder of IDX files
(MNIST or Fashion-MNIST), an ``mnist.npz`` or the classic ``mnist.pkl.gz``. The network is
ConvPool(FILTERS 5x5 filters, 2x2 max-pooling) -> FullyConnected(HIDDEN) -> Softmax(10),
trained by ``Network.SGD`` in float32 unless ``--float64``. Epochs are numbered from 0,
as network3 prints them, in the text, the summary and the plot.

Example::

    symgraph-mnist --epochs 3 --batch-size 10 --eta 0.03 --lmbda 0.1 --plot curves.png
    symgraph-mnist --data /data/fashion-mnist --epochs 10 --save net.npz
    symgraph-mnist evaluate net.npz
"""
from __future__ import annotations

import argparse
import importlib.util
import sys

PROG = "symgraph-mnist"
ACTIVATION_NAMES = ("linear", "relu", "sigmoid", "tanh")  # symgraph.nn.ACTIVATIONS
#: exit status after Ctrl-C (128 + SIGINT), as shells report it
EXIT_INTERRUPTED = 130

#: defaults of the options a resumed run takes from its checkpoint instead
ARCHITECTURE = {"filters": 20, "hidden": 100, "activation": "relu", "dropout": 0.0}
HYPER = {"batch_size": 10, "eta": 0.03, "lmbda": 0.1, "momentum": 0.0}

DESCRIPTION = """\
Train network3's ConvPool network (ConvPool 5x5 + 2x2 max-pooling -> FullyConnected ->
Softmax) on MNIST with mini-batch SGD, printing network3's per-epoch lines (epochs are
numbered from 0), a summary, and optionally the learning curves and a checkpoint.
"""

DATA_HELP = ("training data: a folder of the four MNIST or Fashion-MNIST IDX files, an "
             "mnist.npz (Keras layout), or the classic mnist.pkl.gz, which is a pickle: "
             "loading it runs code from the file, so use only one you trust and prefer "
             "IDX or npz (default: the MNIST sample bundled with symgraph)")

EPILOG = """\
examples:
  symgraph-mnist --epochs 3 --plot curves.png
  symgraph-mnist --data ~/fashion-mnist --epochs 10 --save net.npz --checkpoint-every 1
  symgraph-mnist --resume net.npz --epochs 20 --save net.npz
  symgraph-mnist evaluate net.npz --data ~/fashion-mnist

Ctrl-C stops training after the running mini-batch; with --save the network and its
training state are written there first (exit status 130), and --resume continues from
it with the results an uninterrupted run would have given.
Run "symgraph-mnist evaluate --help" for the evaluate command, and
"symgraph-mnist sweep --help" for hyper-parameter sweeps on Ray (--workers N trains
data-parallel on Ray; both need pip install 'symgraph[distributed]').
"""


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser of ``symgraph-mnist`` (training).

    >>> build_parser().parse_args(["--epochs", "1"]).epochs
    1
    """
    p = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3, metavar="N",
                   help="epochs to train, at least 1; with --resume, the total including "
                        "those already trained (default: 3)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help=f"mini-batch size (default: {HYPER['batch_size']})")
    p.add_argument("--eta", type=float, default=None,
                   help=f"learning rate (default: {HYPER['eta']})")
    p.add_argument("--lmbda", type=float, default=None,
                   help=f"L2 regularisation (default: {HYPER['lmbda']})")
    p.add_argument("--momentum", type=float, default=None, metavar="MU",
                   help="momentum in [0, 1); 0 is plain SGD (default: 0)")
    p.add_argument("--data", default=None, metavar="PATH", help=DATA_HELP)
    p.add_argument("--validation-size", type=int, default=None, metavar="N",
                   help="validation images split off the end of the training file "
                        "(default: one sixth of it)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="train on only the first N training images (default: all)")
    p.add_argument("--filters", type=int, default=None, metavar="N",
                   help=f"convolution filters (default: {ARCHITECTURE['filters']})")
    p.add_argument("--hidden", type=int, default=None, metavar="N",
                   help=f"units of the dense layer (default: {ARCHITECTURE['hidden']})")
    p.add_argument("--activation", choices=ACTIVATION_NAMES, default=None,
                   help="activation of the ConvPool and dense layers (default: relu)")
    p.add_argument("--dropout", type=float, default=None, metavar="P",
                   help="dropout probability in [0, 1) on the dense and softmax layers' "
                        "inputs (default: 0)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="write the learning curves to this PNG file")
    p.add_argument("--save", default=None, metavar="NPZ",
                   help="write the trained network, with its training state, to this .npz "
                        "(also on Ctrl-C)")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="also write --save after every N epochs")
    p.add_argument("--resume", default=None, metavar="NPZ",
                   help="continue the training saved in this checkpoint (architecture and "
                        "settings come from it; give the same --data and --limit)")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="where to train; cuda needs an NVIDIA GPU and pip install "
                        "'symgraph[cuda]' (default: symgraph.config.device, normally cpu)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for the Numba kernels (default: Numba's choice)")
    p.add_argument("--float64", action="store_true",
                   help="train in float64 instead of float32")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds numpy.random: initial weights and dropout (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="show no progress bar")
    from symgraph.distributed.cli import add_options  # --workers, --address, --elastic

    add_options(p)
    return p


def build_evaluate_parser() -> argparse.ArgumentParser:
    """The parser of ``symgraph-mnist evaluate``."""
    p = argparse.ArgumentParser(
        prog=f"{PROG} evaluate", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print the accuracy and the confusion matrix of a network saved by "
                    "symgraph-mnist --save (or Network.save) on a data set.",
        epilog="example:\n  symgraph-mnist evaluate net.npz --data ~/mnist --split test\n")
    p.add_argument("checkpoint", metavar="NET.npz", help="the saved network")
    p.add_argument("--data", default=None, metavar="PATH", help=DATA_HELP)
    p.add_argument("--split", choices=("test", "validation", "training"), default="test",
                   help="which part of the data to evaluate on (default: test)")
    p.add_argument("--validation-size", type=int, default=None, metavar="N",
                   help="validation images split off the end of the training file "
                        "(default: one sixth of it)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="images per call (default: the checkpoint's mini-batch size)")
    return p


def _is_simulator(cuda_module) -> bool:
    """True when ``numba.cuda`` was imported as the CUDA simulator (NUMBA_ENABLE_CUDASIM)."""
    return cuda_module.to_device.__module__.startswith("numba.cuda.simulator")


CUDA_EXTRA = "pip install 'symgraph[cuda]'"


def cuda_problem() -> str | None:
    """Why ``--device cuda`` cannot run here, or None when it can.

    Finding a GPU is not enough: a trivial kernel is compiled for it and run, so a
    missing or mismatched CUDA toolkit (NVVM, libdevice, runtime) is reported here, with
    the extra that installs it, instead of in the middle of the first compile.

    >>> cuda_problem() is None or isinstance(cuda_problem(), str)
    True
    """
    try:
        from numba import cuda
    except Exception as e:  # noqa: BLE001
        return (f"numba.cuda cannot be imported ({type(e).__name__}: {e}); install the CUDA "
                f"toolkit wheels with {CUDA_EXTRA}")
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
    return _probe_kernel(cuda)


def _probe_target(a):  # the trivial kernel _probe_kernel compiles and runs
    a[0] = 42


def _probe_kernel(cuda) -> str | None:
    """Compile ``_probe_target`` for the current GPU and run it on one thread; None when
    it wrote 42, else what failed (naming the toolkit extra to install)."""
    import numpy as np

    try:
        cc = cuda.get_current_device().compute_capability
        cuda.compile_ptx(_probe_target, "(int32[::1],)", cc=cc)
    except Exception as e:  # noqa: BLE001 - NvvmSupportError, missing libdevice, ...
        return (f"the CUDA toolkit cannot compile a kernel ({type(e).__name__}: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}); install the "
                f"toolkit wheels with {CUDA_EXTRA}")
    try:
        out = cuda.to_device(np.zeros(1, dtype=np.int32))
        cuda.jit(_probe_target)[1, 1](out)
        got = int(out.copy_to_host()[0])
    except Exception as e:  # noqa: BLE001
        return (f"a compiled test kernel could not run ({type(e).__name__}: {e}); check the "
                f"driver and the toolkit ({CUDA_EXTRA})")
    if got != 42:
        return f"a test kernel ran but wrote {got} instead of 42: the GPU or driver is broken"
    return None


def main(argv=None) -> int:
    """Run the command; returns the exit status (argument and data errors exit with 2,
    Ctrl-C with 130)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["evaluate"]:
        return evaluate(argv[1:])
    if argv[:1] == ["sweep"]:         # a grid of trials on Ray (symgraph.distributed.cli)
        from symgraph.distributed.cli import sweep_main

        return sweep_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    try:
        return _train(parser, args)
    except KeyboardInterrupt:     # before training started (loading data, compiling)
        print(f"\n{PROG}: interrupted before training started; nothing saved",
              file=sys.stderr)
        return EXIT_INTERRUPTED


def _check_args(parser, args) -> None:
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.resume is not None:
        given = [n for n in ARCHITECTURE if getattr(args, n) is not None]
        if args.float64:
            given.append("float64")
        if given:
            parser.error(f"--{given[0].replace('_', '-')}: a resumed run takes the "
                         f"architecture from its checkpoint ({args.resume})")
    else:
        for name, default in ARCHITECTURE.items():
            if getattr(args, name) is None:
                setattr(args, name, default)
        for name, default in HYPER.items():
            if getattr(args, name) is None:
                setattr(args, name, default)
    for name in ("batch_size", "filters", "hidden", "checkpoint_every", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.checkpoint_every is not None and args.save is None:
        parser.error("--checkpoint-every needs --save (the file to write)")
    if args.limit is not None and args.batch_size is not None and args.limit < args.batch_size:
        parser.error(f"--limit {args.limit} is smaller than one mini-batch ({args.batch_size})")
    if args.dropout is not None and not 0.0 <= args.dropout < 1.0:
        parser.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.momentum is not None and not 0.0 <= args.momentum < 1.0:
        parser.error(f"--momentum must be in [0, 1), got {args.momentum}")


def _train(parser, args) -> int:
    import numpy as np

    import symgraph

    device = _select_device(parser, args.device)
    from symgraph.nn import checkpoint

    if args.resume:
        floatx = checkpoint.saved_floatX(args.resume) or "float32"
    else:
        floatx = "float64" if args.float64 else "float32"
    symgraph.config.floatX = floatx
    _set_threads(parser, args.threads)

    from symgraph.nn import ACTIVATIONS, ConvPoolLayer, FullyConnectedLayer, Network, SoftmaxLayer

    np.random.seed(args.seed)
    net = None
    if args.resume:
        net = _load_network(args.resume)
        st = net.training_state
        if st is None:
            parser.exit(2, f"{PROG}: error: --resume {args.resume}: the checkpoint holds no "
                           f"training state (it was not written by training)\n")
        for name in HYPER:       # the run's settings, unless given (SGD checks they agree)
            if getattr(args, name) is None:
                setattr(args, name, st["mini_batch_size" if name == "batch_size" else name])
        if args.limit is not None and args.limit < args.batch_size:
            parser.error(f"--limit {args.limit} is smaller than one mini-batch "
                         f"({args.batch_size})")
    bs = args.batch_size
    train, val, test = _load(parser, args.data, args.validation_size)
    if args.limit:
        train = (train[0][: args.limit], train[1][: args.limit])
    if train[0].shape[1] != 784:
        parser.exit(2, f"{PROG}: error: {args.data}: images of {train[0].shape[1]} pixels; "
                       f"this network takes 28x28 images\n")
    if len(train[1]) < bs:
        parser.exit(2, f"{PROG}: error: {len(train[1])} training images, fewer than one "
                       f"mini-batch ({bs})\n")
    shared = [_to_shared(d) for d in (train, val, test)]
    source = "bundled MNIST sample" if args.data is None else args.data
    print(f"data: {len(train[1])} training, {len(val[1])} validation, {len(test[1])} test "
          f"images ({source})")
    if net is None:
        f, act = args.filters, ACTIVATIONS[args.activation]
        net = Network([
            ConvPoolLayer(image_shape=(bs, 1, 28, 28), filter_shape=(f, 1, 5, 5),
                          poolsize=(2, 2), activation_fn=act),
            FullyConnectedLayer(n_in=f * 12 * 12, n_out=args.hidden, activation_fn=act,
                                p_dropout=args.dropout),
            SoftmaxLayer(n_in=args.hidden, n_out=10, p_dropout=args.dropout)], bs)
    print(f"network: {_describe(net)}; mini-batch {bs}, eta {args.eta}, lmbda {args.lmbda}, "
          f"momentum {args.momentum}, {floatx}, {device}")
    if args.resume:
        st = net.training_state
        print(f"resuming {args.resume}: epoch {st['epoch']}, mini-batch {st['batch']} "
              f"({len(st['history']['cost'])} epochs done, training up to {args.epochs})")
    # the compile is silent and, on a machine's first run, long: say so before it starts
    print("compiling the training and accuracy functions (the first run on a machine also "
          "compiles symgraph's kernels, about 15 s on 2 cores; later runs load them "
          "from the cache)", flush=True)

    def checkpoint_every(epoch, history):
        if args.checkpoint_every and (epoch + 1) % args.checkpoint_every == 0:
            net.save(args.save)
            print(f"checkpoint: {args.save} (after epoch {epoch})", flush=True)
        return False

    before = net.training_state
    from symgraph.distributed import cli as distributed

    try:
        hist = net.SGD(shared[0], args.epochs, bs, args.eta, shared[1], shared[2],
                       lmbda=args.lmbda, momentum=args.momentum,
                       progress=not args.no_progress, callback=checkpoint_every,
                       resume=bool(args.resume), **distributed.sgd_options(parser, args))
    except distributed.WorkerFailed as e:     # --workers: a worker died or went silent
        print(distributed.failure_message(e, args.save if args.checkpoint_every else None),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if net.training_state is before:      # stopped while compiling: nothing trained
            raise
        if args.save:
            net.save(args.save)
            print(f"{PROG}: interrupted; saved the network and its training state to "
                  f"{args.save} (continue with --resume {args.save})", flush=True)
        else:
            print(f"{PROG}: interrupted; nothing saved (give --save NPZ to keep the network "
                  f"and continue it later with --resume)", flush=True)
        return EXIT_INTERRUPTED
    except ValueError as e:       # resume with other settings or data
        parser.exit(2, f"{PROG}: error: {e}\n")
    print()
    print(summary(hist))
    if args.plot:
        write_plot(hist, args.plot)
        print(f"  learning curves       {args.plot}")
    if args.save:
        net.save(args.save)
        print(f"  saved network         {args.save}")
    return 0


def _select_device(parser, device):
    import symgraph

    device = device or symgraph.config.device
    if device == "cuda":
        problem = cuda_problem()
        if problem:
            parser.exit(2, f"{PROG}: error: --device cuda: {problem}. Train on the CPU with "
                           f"--device cpu.\n")
    symgraph.config.device = device
    return device


def _set_threads(parser, threads):
    if threads is not None:
        import numba

        if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
            parser.error(f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}")
        numba.set_num_threads(threads)


def _load(parser, data, validation_size):
    from symgraph.datasets import DatasetFormatError, DatasetNotFoundError, mnist

    try:
        return mnist.load_data(data, validation_size=validation_size)
    except (DatasetFormatError, DatasetNotFoundError, TypeError, ValueError) as e:
        parser.exit(2, f"{PROG}: error: {e}\n")


def _load_network(path, mini_batch_size=None):
    from symgraph.nn import Network

    try:
        return Network.load(path, mini_batch_size=mini_batch_size)
    except FileNotFoundError:
        sys.exit(f"{PROG}: error: {path}: no such checkpoint file")
    except ValueError as e:
        sys.exit(f"{PROG}: error: {e}")


def _describe(net) -> str:
    parts = []
    for layer in net.layers:
        act = getattr(layer, "activation_fn", None)
        act = getattr(act, "__name__", "").lower() if act is not None else ""
        drop = getattr(layer, "p_dropout", 0.0)
        extra = f", dropout {drop}" if drop else ""
        if layer.kind == "conv_pool":
            parts.append(f"ConvPool({layer.filter_shape[0]} {layer.filter_shape[2]}x"
                         f"{layer.filter_shape[3]}, {act})")
        elif layer.kind == "fully_connected":
            parts.append(f"FullyConnected({layer.n_out}, {act}{extra})")
        else:
            parts.append(f"Softmax({layer.n_out}{extra})")
    return " -> ".join(parts)


def evaluate(argv) -> int:
    """``symgraph-mnist evaluate NET.npz``: accuracy and confusion matrix on a data set."""
    parser = build_evaluate_parser()
    args = parser.parse_args(argv)
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be positive, got {args.batch_size}")

    import symgraph
    from symgraph.nn import checkpoint

    symgraph.config.floatX = checkpoint.saved_floatX(args.checkpoint) or "float32"
    net = _load_network(args.checkpoint, args.batch_size)
    splits = dict(zip(("training", "validation", "test"),
                      _load(parser, args.data, args.validation_size)))
    images, labels = splits[args.split]
    if len(labels) == 0:
        parser.exit(2, f"{PROG} evaluate: error: the {args.split} set is empty\n")
    if images.shape[1] != net.n_in:
        parser.exit(2, f"{PROG} evaluate: error: images of {images.shape[1]} values; the "
                       f"network takes {net.n_in}\n")
    predicted = net.predict(images)
    print(report(labels, predicted, net.layers[-1].n_out,
                 f"{args.split} images of "
                 f"{'the bundled MNIST sample' if args.data is None else args.data}, "
                 f"{args.checkpoint}"))
    return 0


def confusion_matrix(labels, predicted, classes: int):
    """``m[true, predicted]`` counts.

    >>> confusion_matrix([0, 1, 1], [0, 1, 0], 2).tolist()
    [[1, 0], [1, 1]]
    """
    import numpy as np

    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels), np.asarray(predicted)), 1)
    return m


def report(labels, predicted, classes: int, what: str) -> str:
    """The text ``evaluate`` prints: accuracy, then the confusion matrix."""
    import numpy as np

    m = confusion_matrix(labels, predicted, classes)
    correct, n = int(np.trace(m)), int(m.sum())
    width = max(5, len(str(m.max())) + 1)
    lines = [f"accuracy {correct / n:.2%} ({correct} of {n} {what})", "",
             "confusion matrix (rows: true class, columns: predicted class)",
             " " * 6 + "".join(f"{c:>{width}}" for c in range(classes))]
    for c in range(classes):
        lines.append(f"{c:>6}" + "".join(f"{v:>{width}}" for v in m[c]))
    return "\n".join(lines)


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

    epochs = list(range(len(hist["cost"])))  # numbered from 0, as the text and summary
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
