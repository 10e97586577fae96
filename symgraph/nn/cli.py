"""``symgraph-mnist``: train the network3 ConvPool network on MNIST (the main job).

By default it trains on the small real MNIST sample shipped inside the package; ``--data``
takes a folder of IDX files (MNIST or Fashion-MNIST) or a classic ``mnist.pkl.gz``.

Example::

    symgraph-mnist --epochs 3 --batch-size 10 --eta 0.03 --lmbda 0.1 --plot curves.png
"""
from __future__ import annotations

import argparse
import sys
import time


def build_parser():
    p = argparse.ArgumentParser(prog="symgraph-mnist", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--eta", type=float, default=0.03, help="learning rate")
    p.add_argument("--lmbda", type=float, default=0.1, help="L2 regularisation")
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--data", default=None, help="IDX folder or mnist.pkl.gz (default: bundled sample)")
    p.add_argument("--validation-size", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--filters", type=int, default=20)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--plot", default=None, help="write the learning curves to this PNG")
    p.add_argument("--save", default=None, help="write the trained network to this .npz")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--float64", action="store_true", help="train in float64 (default float32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import numpy as np

    import symgraph

    symgraph.config.floatX = "float64" if args.float64 else "float32"
    if args.device == "cuda":
        symgraph.config.device = "cuda"
    from symgraph.datasets import mnist
    from symgraph.nn import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer

    np.random.seed(args.seed)
    t0 = time.perf_counter()
    train, val, test = mnist.load_data(args.data, validation_size=args.validation_size)
    if args.limit:
        train = (train[0][: args.limit], train[1][: args.limit])
    shared = [_to_shared(d) for d in (train, val, test)]
    bs = args.batch_size
    print(f"data: {len(train[1])} training, {len(val[1])} validation, {len(test[1])} test "
          f"images ({'bundled sample' if args.data is None else args.data}); "
          f"loaded in {time.perf_counter() - t0:.1f}s")
    f = args.filters
    net = Network([
        ConvPoolLayer(image_shape=(bs, 1, 28, 28), filter_shape=(f, 1, 5, 5), poolsize=(2, 2),
                      activation_fn=ReLU),
        FullyConnectedLayer(n_in=f * 12 * 12, n_out=args.hidden, activation_fn=ReLU,
                            p_dropout=args.dropout),
        SoftmaxLayer(n_in=args.hidden, n_out=10, p_dropout=args.dropout)], bs)
    hist = net.SGD(shared[0], args.epochs, bs, args.eta, shared[1], shared[2], lmbda=args.lmbda,
                   momentum=args.momentum, progress=not args.no_progress)
    n_img = (len(train[1]) // bs) * bs
    spe = float(np.mean(hist["seconds"]))
    print("\nSummary")
    print(f"  compile time         {hist['compile_seconds']:.2f} s")
    print(f"  seconds per epoch    {spe:.2f} s ({n_img} images, mini-batch {bs}, "
          f"{symgraph.config.floatX})")
    print(f"  images per second    {n_img / spe:,.0f}")
    if hist["validation_accuracy"]:
        print(f"  best validation      {hist['best_validation_accuracy']:.2%}")
    if hist["best_test_accuracy"] is not None:
        print(f"  test accuracy        {hist['best_test_accuracy']:.2%}")
    if args.plot:
        write_plot(hist, args.plot)
        print(f"  learning curves      {args.plot}")
    if args.save:
        net.save(args.save)
        print(f"  saved network        {args.save}")
    return 0


def _to_shared(data):
    """(images, labels) arrays -> (shared_x, int32 view of shared_y), as network3 does."""
    import numpy as np

    import symgraph
    import symgraph.tensor as T

    x = symgraph.shared(np.asarray(data[0], dtype=symgraph.config.floatX), borrow=True)
    y = symgraph.shared(np.asarray(data[1], dtype=symgraph.config.floatX), borrow=True)
    return x, T.cast(y, "int32")


def write_plot(hist, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(hist["cost"]) + 1)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(epochs, hist["cost"], marker="o")
    a1.set_xlabel("epoch")
    a1.set_ylabel("training cost")
    a1.set_title("Training cost")
    if hist["validation_accuracy"]:
        a2.plot(epochs, [100 * v for v in hist["validation_accuracy"]], marker="o", label="validation")
    if any(t is not None for t in hist["test_accuracy"]):
        a2.plot(epochs, [None if t is None else 100 * t for t in hist["test_accuracy"]],
                marker="s", label="test (at best validation)")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.set_title("Accuracy")
    a2.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
