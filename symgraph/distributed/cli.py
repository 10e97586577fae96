"""``symgraph-mnist``'s distributed parts: ``--workers/--address/--elastic`` and ``sweep``.

Why here and not in ``symgraph.nn.cli``: the training command only needs four options
and one call (``sgd_options``); the sweep is a command of its own. Keeping both here
leaves the training command's module about training.

Example::

    symgraph-mnist --workers 2 --epochs 3
    symgraph-mnist --workers 8 --address ray://head:10001 --elastic --save net.npz
    symgraph-mnist --workers 2 --allreduce object-store
    symgraph-mnist sweep --eta 0.01,0.03,0.1 --lmbda 0,0.1 --workers 3 --plot sweep.png
"""
from __future__ import annotations

import argparse
import sys
import time

from symgraph.distributed.runtime import DistributedUnavailable, WorkerFailed, require_ray

__all__ = ["add_options", "sgd_options", "failure_message", "sweep_main", "WorkerFailed"]

PROG = "symgraph-mnist"


def add_options(p: argparse.ArgumentParser) -> None:
    """Add ``--workers``, ``--address`` and ``--elastic`` to a training parser."""
    g = p.add_argument_group("distributed training (pip install 'symgraph[distributed]')")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="train data-parallel on N Ray workers, each on mini-batch/N of every "
                        "mini-batch, gradients averaged every step (default: one process)")
    g.add_argument("--address", default=None, metavar="ADDR",
                   help="the Ray cluster to use, e.g. ray://head:10001 or auto (default: "
                        "start a local Ray instance on 127.0.0.1)")
    g.add_argument("--elastic", action="store_true",
                   help="when a worker dies, continue on the others (default: stop with an "
                        "error naming it; the last --checkpoint-every file stays loadable)")
    g.add_argument("--allreduce", choices=("auto", "gloo", "object-store"), default=None,
                   help="how gradients are averaged: gloo (worker to worker, a "
                        "torch.distributed gloo group; needs torch), object-store (through "
                        "the driver, Ray's object store), auto (gloo where torch is "
                        "installed; the default)")


def sgd_options(parser, args) -> dict:
    """The ``Network.SGD`` keywords for ``--workers/--address/--elastic`` (none without
    ``--workers``); exits with status 2 when they cannot apply. Prints what it starts."""
    workers = getattr(args, "workers", None)
    allreduce = getattr(args, "allreduce", None)
    if workers is None:
        if args.address or args.elastic or allreduce:
            parser.error("--address, --elastic and --allreduce apply only with --workers N")
        return {}
    if workers < 1:
        parser.error(f"--workers must be positive, got {workers}")
    if args.batch_size % workers:
        parser.error(f"--batch-size {args.batch_size} does not split evenly over "
                     f"{workers} workers")
    try:
        require_ray()
    except DistributedUnavailable as e:
        parser.exit(2, f"{PROG}: error: --workers: {e}\n")
    where = args.address or "a local Ray instance on 127.0.0.1"
    print(f"distributed: {workers} Ray workers on {where}, shards of "
          f"{args.batch_size // workers} images per mini-batch"
          + (", elastic" if args.elastic else ""), flush=True)
    return {"workers": workers, "address": args.address, "elastic": args.elastic,
            "seed": args.seed, "allreduce": (allreduce or "auto").replace("-", "_")}


def failure_message(err: WorkerFailed, save: str | None) -> str:
    """What ``symgraph-mnist`` prints when a worker failed."""
    tail = (f"; the last checkpoint written to {save} is intact (Network.load it, or "
            f"--resume it)" if save else "")
    return f"{PROG}: error: {err}{tail}"


# ------------------------------------------------------------------ sweep
def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def build_sweep_parser() -> argparse.ArgumentParser:
    """The parser of ``symgraph-mnist sweep``.

    >>> build_sweep_parser().parse_args(["--eta", "0.1,0.3"]).eta
    [0.1, 0.3]
    """
    p = argparse.ArgumentParser(
        prog=f"{PROG} sweep", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train the ConvPool network once per (eta, lmbda) of a grid, as Ray "
                    "tasks (at most --workers at a time), then print a table of the results "
                    "and plot the best validation accuracy against eta.",
        epilog="example:\n  symgraph-mnist sweep --eta 0.01,0.03,0.1 --lmbda 0,0.1 "
               "--workers 3 --plot sweep.png\n")
    p.add_argument("--eta", type=_floats, default=[0.01, 0.03, 0.1], metavar="LIST",
                   help="learning rates (default: 0.01,0.03,0.1)")
    p.add_argument("--lmbda", type=_floats, default=[0.0, 0.1], metavar="LIST",
                   help="L2 regularisations (default: 0,0.1)")
    p.add_argument("--workers", type=int, default=2, metavar="N",
                   help="trials run at once, one per worker (default: 2)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="the Ray cluster to use (default: a local instance on 127.0.0.1)")
    p.add_argument("--epochs", type=int, default=3, metavar="N",
                   help="epochs per trial (default: 3)")
    p.add_argument("--batch-size", type=int, default=10, metavar="N",
                   help="mini-batch size (default: 10)")
    p.add_argument("--momentum", type=float, default=0.0,
                   help="momentum of every trial (default: 0, plain SGD)")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="MNIST or Fashion-MNIST IDX folder, mnist.npz or mnist.pkl.gz "
                        "(default: the bundled sample)")
    p.add_argument("--validation-size", type=int, default=None, metavar="N",
                   help="validation images split off the end of the training file "
                        "(default: one sixth of it)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="train on only the first N training images")
    p.add_argument("--filters", type=int, default=20, metavar="N",
                   help="convolution filters (default: 20)")
    p.add_argument("--hidden", type=int, default=100, metavar="N",
                   help="units of the dense layer (default: 100)")
    p.add_argument("--activation", choices=("linear", "relu", "sigmoid", "tanh"),
                   default="relu", help="activation of the ConvPool and dense layers "
                                        "(default: relu)")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="dropout probability on the dense and softmax layers' inputs "
                        "(default: 0)")
    p.add_argument("--float64", action="store_true",
                   help="train in float64 instead of float32")
    p.add_argument("--seed", type=int, default=0, help="seeds every trial (default: 0)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="Numba threads per trial (default: cores / workers locally)")
    p.add_argument("--timeout", type=float, default=24 * 3600.0, metavar="S",
                   help="give up on trials not finished after S seconds (default: a day)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="write best validation accuracy against eta to this PNG")
    p.add_argument("--no-progress", action="store_true", help="(accepted; trials show none)")
    return p


COLUMNS = ["eta", "lmbda", "best_validation_accuracy", "best_test_accuracy", "final_cost",
           "compile_seconds", "train_seconds", "pid"]


def sweep_main(argv) -> int:
    """``symgraph-mnist sweep``: the grid as Ray tasks, a table, optionally a plot."""
    parser = build_sweep_parser()
    args = parser.parse_args(argv)
    for name in ("workers", "epochs", "batch_size", "filters", "hidden"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.limit is not None and args.limit < args.batch_size:
        parser.error(f"--limit {args.limit} is smaller than one mini-batch ({args.batch_size})")
    try:
        ray = require_ray()
    except DistributedUnavailable as e:
        parser.exit(2, f"{PROG} sweep: error: {e}\n")
    import symgraph
    from symgraph.datasets import DatasetFormatError, DatasetNotFoundError, mnist
    from symgraph.distributed.runtime import connect
    from symgraph.distributed.sweep import format_table, mnist_trial, plot_sweep, sweep

    symgraph.config.floatX = "float64" if args.float64 else "float32"
    try:
        train, val, test = mnist.load_data(args.data, validation_size=args.validation_size)
    except (DatasetFormatError, DatasetNotFoundError, TypeError, ValueError) as e:
        parser.exit(2, f"{PROG} sweep: error: {e}\n")
    if args.limit:
        train = (train[0][: args.limit], train[1][: args.limit])
    spec = {k: getattr(args, k) for k in ("filters", "hidden", "activation", "dropout",
                                          "batch_size", "epochs", "momentum")}
    n = len(args.eta) * len(args.lmbda)
    print(f"sweep: {n} trials (eta {args.eta} x lmbda {args.lmbda}), {args.workers} at a "
          f"time on {args.address or 'a local Ray instance on 127.0.0.1'}; "
          f"{len(train[1])} training images, {args.epochs} epochs each", flush=True)
    t0 = time.perf_counter()
    connect(args.address, None if args.address else max(args.workers, 1))
    data_ref = ray.put((train, val, test))
    rows = sweep(mnist_trial, {"eta": args.eta, "lmbda": args.lmbda}, args.workers,
                 (data_ref, spec), seed=args.seed, address=args.address,
                 timeout=args.timeout, threads=args.threads)
    print(f"finished in {time.perf_counter() - t0:.1f} s\n")
    print(format_table(rows, COLUMNS))
    ok = [r for r in rows if "error" not in r and r.get("best_validation_accuracy") is not None]
    if ok:
        best = max(ok, key=lambda r: r["best_validation_accuracy"])
        print(f"\nbest: eta {best['eta']}, lmbda {best['lmbda']}: validation "
              f"{best['best_validation_accuracy']:.2%}"
              + (f", test {best['best_test_accuracy']:.2%}"
                 if best.get("best_test_accuracy") is not None else ""))
    if args.plot:
        plot_sweep(rows, "eta", "best_validation_accuracy", "lmbda", args.plot)
        print(f"plot: {args.plot}")
    return 0 if len(ok) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(sweep_main(sys.argv[1:]))
