"""The same MNIST recipe in PyTorch: does 5 epochs reach 97.5 %? (reference for issue #6)

network3's net, initialisation, cost and data order, written in PyTorch: ConvPool(20 5x5,
2x2 max-pool, ReLU) -> FC(100, ReLU) -> softmax; weights ~ N(0, 1/n_out) with n_out as in
network3, biases ~ N(0, 1), softmax layer zeros; log-likelihood + 0.5 * lmbda * sum(w**2)
/ num_batches; plain SGD, mini-batch 10, eta 0.03, lmbda 0.1, mini-batches in file order.
Training on ``<shared>/data/mnist``'s 10,000 training digits minus the last 1,000 (held
out, as ``bench/mnist_accuracy.py`` does), testing on the official 10,000. If PyTorch's
curve matches symgraph's, a missed accuracy target is the recipe's, not symgraph's.

    python bench/mnist_accuracy_torch.py --seed 0
    python bench/mnist_accuracy_torch.py --data ../shared/data/fashion-mnist \
        --validation 5000 --epochs 10        # Fashion-MNIST, as bench/mnist_accuracy.py
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "mnist"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--validation", type=int, default=1000,
                   help="training images held out (not trained on), as bench/mnist_accuracy.py")
    args = p.parse_args()
    from symgraph.datasets import mnist

    (x, y), _, (xt, yt) = mnist.load_data(args.data, validation_size=args.validation)
    torch.set_num_threads(1)
    r = np.random.RandomState(args.seed)

    def param(a):
        return torch.tensor(a, dtype=torch.float32, requires_grad=True)

    cw = param(r.normal(0, np.sqrt(1 / (20 * 25 / 4)), (20, 1, 5, 5)))
    cb = param(r.normal(0, 1, (20,)))
    fw = param(r.normal(0, np.sqrt(1 / 100), (2880, 100)))
    fb = param(r.normal(0, 1, (100,)))
    sw, sb = param(np.zeros((100, 10))), param(np.zeros(10))
    params = [cw, cb, fw, fb, sw, sb]

    def forward(xb):
        h = torch.nn.functional.conv2d(xb.view(-1, 1, 28, 28), cw.flip(2, 3))  # true conv
        h = torch.relu(torch.nn.functional.max_pool2d(h, 2) + cb.view(1, -1, 1, 1))
        h = torch.relu(h.reshape(h.shape[0], -1) @ fw + fb)
        return h @ sw + sb

    X, Y = torch.tensor(x), torch.tensor(y, dtype=torch.long)
    XT, YT = torch.tensor(xt), torch.tensor(yt, dtype=torch.long)
    bs, eta, lmbda = 10, 0.03, 0.1
    nb = len(X) // bs
    print(f"{len(X)} training, {len(XT)} test images; seed {args.seed}")
    for epoch in range(args.epochs):
        t0, total = time.time(), 0.0
        for i in range(nb):
            l2 = cw.pow(2).sum() + fw.pow(2).sum() + sw.pow(2).sum()
            cost = (torch.nn.functional.cross_entropy(forward(X[i * bs:(i + 1) * bs]),
                                                      Y[i * bs:(i + 1) * bs])
                    + 0.5 * lmbda * l2 / nb)
            for q in params:
                q.grad = None
            cost.backward()
            total += cost.item()
            with torch.no_grad():
                for q in params:
                    q -= eta * q.grad
        with torch.no_grad():
            acc = (forward(XT).argmax(1) == YT).float().mean().item()
        print(f"epoch {epoch}: cost {total / nb:.4f}  test accuracy {acc:.2%}  "
              f"({time.time() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
