"""Step time of network3's training on Ray workers against one process (docs/scaling.md).

Network: ConvPool(20 5x5, 2x2 max-pool, ReLU) -> FullyConnected(100, ReLU) -> Softmax(10),
float32, the bundled MNIST sample. For each mini-batch size it measures, in this one
process and on one local Ray instance (127.0.0.1, ``num_cpus`` = the largest N):

- ``single``: ``Network.build_train_fn``'s ``train_mb(i)`` (Numba's threads: all cores);
- ``object_store N``: ``symgraph.distributed.train_function(..., workers=N,
  allreduce="object_store")``'s ``train_mb(i)`` (each worker on cores / N threads):
  shard gradients on N processes, the mean taken by the driver and sent back through
  Ray's object store, the update on every replica and on the driver;
- ``gloo N``: the same with ``allreduce="gloo"``: the workers average among themselves
  on a torch.distributed gloo group (loopback), worker 0 sends the mean to the driver
  (needs torch; skipped, with a note, without it).

Each figure is the median seconds per step over ``--steps`` steps after ``--warmup``
ones; the machine's load average is recorded with it (a shared machine: compare rows of
one run only).

Usage::

    python bench/distributed_step.py                       # batches 10,100; N = 1, 2
    python bench/distributed_step.py --batches 100 --workers 1,2 --steps 100
    python bench/distributed_step.py --paths object_store       # one averaging path

Writes ``bench/results/distributed.json``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def network3(batch):
    import numpy as np

    from symgraph.nn import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer

    np.random.seed(0)
    return Network([
        ConvPoolLayer(image_shape=(batch, 1, 28, 28), filter_shape=(20, 1, 5, 5),
                      poolsize=(2, 2), activation_fn=ReLU),
        FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100, activation_fn=ReLU),
        SoftmaxLayer(n_in=100, n_out=10)], batch)


def timed(fn, n_batches, warmup, steps):
    for i in range(warmup):
        fn(i % n_batches)
    times = []
    for i in range(steps):
        t = time.perf_counter()
        fn(i % n_batches)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", default="10,100")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--paths", default="object_store,gloo",
                   help="averaging paths to time (object_store, gloo)")
    args = p.parse_args(argv)
    import numpy as np

    import symgraph
    import symgraph.tensor as T
    from symgraph.datasets import load_data
    from symgraph.distributed import connect, train_function
    from symgraph.distributed.collective import gloo_available

    symgraph.config.floatX = "float32"
    (x, y), _, _ = load_data()
    tx = symgraph.shared(np.asarray(x, dtype="float32"), borrow=True)
    ty = T.cast(symgraph.shared(np.asarray(y, dtype="float32"), borrow=True), "int32")
    workers = [int(w) for w in args.workers.split(",")]
    connect(num_cpus=max(workers))
    n_params = sum(p.get_value().size for p in network3(10).params)
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        n_batches = len(y) // batch
        net = network3(batch)
        train_mb = net.build_train_fn((tx, ty), batch, 0.03, 0.1, 0.0, n_batches)
        train_mb.dry_run(0)
        rows.append({"batch": batch, "system": "single", "load1": os.getloadavg()[0],
                     "median_s": timed(train_mb, n_batches, args.warmup, args.steps)})
        print(rows[-1], flush=True)
        for path in args.paths.split(","):
            if path == "gloo" and not gloo_available():
                print("gloo: torch is not installed here; skipped", flush=True)
                continue
            for n in workers:
                if batch % n:
                    continue
                net = network3(batch)
                fn = train_function(net, (tx, ty), batch, 0.03, 0.1, 0.0, n_batches,
                                    workers=n, allreduce=path)
                fn.dry_run(0)
                assert fn.dp.backend == path, (fn.dp.backend, fn.dp.backend_note)
                rows.append({"batch": batch, "system": f"{path} {n}",
                             "load1": os.getloadavg()[0],
                             "median_s": timed(fn, n_batches, args.warmup, args.steps)})
                fn.close()
                print(rows[-1], flush=True)
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "cpus": os.cpu_count(), "params": int(n_params),
           "gradient_bytes_float32": int(n_params) * 4, "steps": args.steps, "rows": rows}
    path = REPO / "bench" / "results" / "distributed.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("| batch | system | ms/step | load (1 min) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch']} | {r['system']} | {r['median_s'] * 1e3:.2f} | {r['load1']:.1f} |")
    print(f"parameters {n_params}, float32 gradient bytes {n_params * 4}; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
