"""Accuracy of network3's ConvPool network on real MNIST and Fashion-MNIST, per epoch.

Network: ConvPool(20 5x5 filters, 2x2 max-pool, ReLU) -> FullyConnected(100, ReLU) ->
Softmax(10); mini-batch 10, eta 0.03, lmbda 0.1, float32, plain SGD, ``np.random.seed``
fixed; trained by ``Network.SGD``.

* MNIST (``--mnist``, default ``<repo>/../shared/data/mnist``: 10,000 training digits and
  the official 10,000-digit test set): the last ``--mnist-validation`` (1,000) training
  digits are held out for validation, the others trained on; test accuracy after each of
  ``--mnist-epochs`` (5) epochs. Target: >= 97.5 % within 5 epochs.
* Fashion-MNIST (``--fashion``, default ``<repo>/../shared/data/fashion-mnist``: 60,000 /
  10,000): ``--fashion-validation`` (5,000) held out; up to ``--fashion-epochs`` (10)
  epochs, stopping early after the epoch that crosses ``--fashion-budget`` seconds of
  training. Target: >= 90 % test accuracy within 10 epochs.

For each epoch it records the training cost, validation and test accuracy, the seconds
of training (evaluation excluded), images per second and the machine's load average
(``os.getloadavg``) at the end of the epoch; the table printed compares each run's best
test accuracy with its target. The JSON (default ``bench/results/mnist_accuracy.json``)
is rewritten atomically after every epoch, so an interrupted run keeps what it measured.

``--eta``, ``--lmbda`` and ``--momentum`` run other hyper-parameters than the issue's;
such runs are recorded beside the others under a key naming them (``"mnist eta=0.1"``).

Example::

    python bench/mnist_accuracy.py                       # both runs
    python bench/mnist_accuracy.py --skip-fashion --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
if not SHARED.is_dir() and Path("/work/shared/data").is_dir():
    SHARED = Path("/work/shared/data")
TARGETS = {"mnist": 0.975, "fashion-mnist": 0.90}


def _load() -> tuple[float, float, float]:
    return os.getloadavg()


def _commit() -> str | None:
    import symgraph

    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    try:
        return subprocess.run(["git", "-C", str(Path(symgraph.__file__).parent), "rev-parse",
                               "HEAD"], capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001 - not a checkout
        return None


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run(name: str, data_path: Path, validation_size: int, epochs: int, budget: float | None,
        results: dict, out: Path, seed: int, eta: float = 0.03, lmbda: float = 0.1,
        momentum: float = 0.0, key: str | None = None) -> dict:
    """Train the network on one dataset; record into ``results['runs'][key or name]``."""
    import symgraph
    from symgraph.datasets import load_data_shared
    from symgraph.nn import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer, size

    symgraph.config.floatX = "float32"
    np.random.seed(seed)
    training_data, validation_data, test_data = load_data_shared(data_path, validation_size)
    bs = 10
    net = Network([
        ConvPoolLayer(image_shape=(bs, 1, 28, 28), filter_shape=(20, 1, 5, 5), poolsize=(2, 2),
                      activation_fn=ReLU),
        FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100, activation_fn=ReLU),
        SoftmaxLayer(n_in=100, n_out=10)], bs)
    record = {
        "data": str(data_path), "training_images": size(training_data),
        "validation_images": size(validation_data), "test_images": size(test_data),
        "network": "ConvPool(20 5x5, pool 2x2, ReLU) -> FullyConnected(100, ReLU) -> "
                   "Softmax(10)",
        "mini_batch_size": bs, "eta": eta, "lmbda": lmbda, "momentum": momentum,
        "floatX": "float32", "seed": seed, "epochs_requested": epochs,
        "time_budget_seconds": budget, "target_test_accuracy": TARGETS[name],
        "epochs": [], "status": "running", "load_at_start": _load(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": results["machine"],
        "symgraph": results["symgraph"]}
    results["runs"][key or name] = record
    write_json(out, results)
    print(f"\n== {key or name}: {record['training_images']} training, "
          f"{record['validation_images']} validation, {record['test_images']} test images; "
          f"load {record['load_at_start'][0]:.1f}")
    started = time.perf_counter()

    def after_epoch(epoch, hist):
        entry = {"epoch": epoch + 1, "cost": hist["cost"][-1],
                 "validation_accuracy": hist["validation_accuracy"][-1],
                 "test_accuracy": hist["test_accuracy"][-1], "seconds": hist["seconds"][-1],
                 "images_per_second": hist["images_per_second"][-1], "load": _load()}
        record["epochs"].append(entry)
        record["compile_seconds"] = hist["compile_seconds"]
        write_json(out, results)
        print(f"   epoch {epoch + 1}: test {entry['test_accuracy']:.2%}  "
              f"validation {entry['validation_accuracy']:.2%}  cost {entry['cost']:.4f}  "
              f"{entry['seconds']:.1f} s  {entry['images_per_second']:.0f} img/s  "
              f"load {entry['load'][0]:.1f}", flush=True)
        if budget is not None and sum(e["seconds"] for e in record["epochs"]) >= budget:
            record["status"] = f"stopped after epoch {epoch + 1}: time budget {budget:.0f} s used"
            return True
        return False

    net.SGD(training_data, epochs, bs, eta, validation_data, test_data, lmbda=lmbda,
            momentum=momentum, progress=False, verbose=False, callback=after_epoch)
    if record["status"] == "running":
        record["status"] = "complete"
    record["wall_seconds"] = time.perf_counter() - started
    tests = [e["test_accuracy"] for e in record["epochs"]]
    record["best_test_accuracy"] = max(tests) if tests else None
    record["first_epoch_reaching_target"] = next(
        (e["epoch"] for e in record["epochs"] if e["test_accuracy"] >= TARGETS[name]), None)
    record["load_at_end"] = _load()
    write_json(out, results)
    return record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", type=Path, default=SHARED / "mnist")
    p.add_argument("--fashion", type=Path, default=SHARED / "fashion-mnist")
    p.add_argument("--mnist-epochs", type=int, default=5)
    p.add_argument("--fashion-epochs", type=int, default=10)
    p.add_argument("--mnist-validation", type=int, default=1000)
    p.add_argument("--fashion-validation", type=int, default=5000)
    p.add_argument("--fashion-budget", type=float, default=None,
                   help="stop Fashion-MNIST after the epoch that crosses this many seconds")
    p.add_argument("--skip-mnist", action="store_true")
    p.add_argument("--skip-fashion", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="numba.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eta", type=float, default=0.03, help="learning rate (the issue's: 0.03)")
    p.add_argument("--lmbda", type=float, default=0.1, help="L2 regularisation (0.1)")
    p.add_argument("--momentum", type=float, default=0.0, help="momentum (0: plain SGD)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "mnist_accuracy.json")
    args = p.parse_args(argv)

    import numba

    import symgraph

    if args.threads:
        numba.set_num_threads(args.threads)
    results = {"benchmark": "bench/mnist_accuracy.py",
               "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
               "machine": {"cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
                           "platform": platform.platform(), "python": sys.version.split()[0],
                           "numpy": np.__version__, "numba": numba.__version__},
               "symgraph": {"file": symgraph.__file__, "commit": _commit()},
               "runs": {}}
    if args.out.exists():   # keep the other dataset's run when only one is re-run
        try:
            old = json.loads(args.out.read_text())
            results["runs"].update(old.get("runs", {}))
        except (OSError, ValueError):
            pass
    jobs = []
    if not args.skip_mnist:
        jobs.append(("mnist", args.mnist, args.mnist_validation, args.mnist_epochs, None))
    if not args.skip_fashion:
        jobs.append(("fashion-mnist", args.fashion, args.fashion_validation,
                     args.fashion_epochs, args.fashion_budget))
    # runs with other hyper-parameters than the are recorded under their own key
    variant = "".join(f" {k}={v}" for k, v, d in (("eta", args.eta, 0.03),
                                                   ("lmbda", args.lmbda, 0.1),
                                                   ("momentum", args.momentum, 0.0)) if v != d)
    for job in jobs:
        key = job[0] + variant
        results["runs"].pop(key, None)
        run(*job, results=results, out=args.out, seed=args.seed, eta=args.eta,
            lmbda=args.lmbda, momentum=args.momentum, key=key)

    print(f"\n{'run':<28}{'epochs':>7}{'best test':>11}{'target':>8}{'ratio':>7}"
          f"{'s/epoch':>9}{'img/s':>8}{'load':>6}")
    for name, r in results["runs"].items():
        if not r["epochs"]:
            continue
        best = max(e["test_accuracy"] for e in r["epochs"])
        spe = float(np.mean([e["seconds"] for e in r["epochs"]]))
        ips = float(np.mean([e["images_per_second"] for e in r["epochs"]]))
        load = float(np.mean([e["load"][0] for e in r["epochs"]]))
        print(f"{name:<28}{len(r['epochs']):>7}{best:>11.2%}{r['target_test_accuracy']:>8.1%}"
              f"{best / r['target_test_accuracy']:>7.3f}{spe:>9.1f}{ips:>8.0f}{load:>6.1f}")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
