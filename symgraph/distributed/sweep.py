"""Hyper-parameter sweeps: a grid of trials run as Ray tasks, one per worker.

Why plain Ray tasks (not Ray Tune): a trial here is one ``Network.SGD`` run, with no
early stopping or search algorithm to drive; a task per grid point keeps the extra
dependency to Ray core. At most ``workers`` trials run at once, each on one CPU of a
worker process that Ray keeps and reuses, so a trial after the first on that worker
reuses what that process already compiled, and every process reuses symgraph's disk
cache of compiled code (shared through ``config.cache_dir`` on one node).

A failed trial (an exception, a dead worker) is reported in its row (``error``) and
does not stop the others; ``timeout`` bounds the whole sweep.

>>> rows = sweep(my_trial, {"eta": [0.01, 0.1], "lmbda": [0.0]}, workers=2)  # doctest: +SKIP
>>> print(format_table(rows, ["eta", "lmbda", "best_validation_accuracy"]))  # doctest: +SKIP
"""
from __future__ import annotations

import itertools
import time

__all__ = ["grid", "sweep", "format_table", "plot_sweep", "mnist_trial"]


def grid(space: dict) -> list[dict]:
    """Every combination of ``space``'s value lists, in order (last key fastest).

    >>> grid({"eta": [0.1, 0.3], "lmbda": [0, 1]})  # doctest: +NORMALIZE_WHITESPACE
    [{'eta': 0.1, 'lmbda': 0}, {'eta': 0.1, 'lmbda': 1},
     {'eta': 0.3, 'lmbda': 0}, {'eta': 0.3, 'lmbda': 1}]
    """
    keys = list(space)
    for k in keys:
        if not space[k]:
            raise ValueError(f"grid: no values for {k!r}")
    return [dict(zip(keys, values)) for values in itertools.product(*(space[k] for k in keys))]


def _run_trial(trial, config, seed, symgraph_config, threads, *args):
    """Task body: apply the driver's settings, then ``trial(config, *args)``."""
    import os

    import numpy as np

    import symgraph

    for k, v in symgraph_config.items():
        setattr(symgraph.config, k, v)
    if threads:
        from symgraph.distributed.runtime import set_threads

        set_threads(threads)
    np.random.seed(seed)
    t0 = time.perf_counter()
    result = dict(trial(dict(config), *args))
    result.setdefault("trial_seconds", time.perf_counter() - t0)
    result["pid"] = os.getpid()
    return result


def sweep(trial, space: dict, workers: int, args=(), *, seed: int = 0,
          address: str | None = None, num_cpus: int | None = None,
          timeout: float = 3600.0, threads: int | None = None) -> list[dict]:
    """Run ``trial(config, *args) -> dict`` for every point of ``grid(space)`` on Ray,
    at most ``workers`` at a time; return one row per point (the config, the trial's
    results, ``trial_seconds``, ``pid`` of the worker, and ``error`` when it failed).

    ``args`` go to every trial (large arrays: put them in Ray's object store once with
    ``ray.put`` and pass the references; Ray hands each trial the objects). Every trial
    seeds ``numpy.random`` with ``seed``, so trials differ only in their configuration.
    """
    from symgraph.distributed.runtime import config_snapshot, connect

    workers = int(workers)
    if workers < 1:
        raise ValueError(f"sweep: workers must be >= 1, got {workers}")
    ray = connect(address, num_cpus)
    from symgraph.distributed.data_parallel import release_idle

    release_idle()          # idle kept workers hold CPUs the trials need
    if threads is None and not address:
        import os

        threads = max(1, (os.cpu_count() or 1) // workers)
    task = ray.remote(num_cpus=1, max_retries=0)(_run_trial)
    configs = grid(space)
    cfg = config_snapshot()
    rows: list[dict | None] = [None] * len(configs)
    running: dict = {}
    todo = list(enumerate(configs))
    deadline = time.monotonic() + timeout
    while todo or running:
        while todo and len(running) < workers:
            k, config = todo.pop(0)
            running[task.remote(trial, config, seed, cfg, threads, *args)] = k
        left = deadline - time.monotonic()
        ready, _ = ray.wait(list(running), num_returns=1, timeout=max(left, 0))
        if not ready:
            for ref, k in running.items():
                ray.cancel(ref, force=True)
                rows[k] = dict(configs[k], error=f"not finished within the sweep's "
                                                 f"timeout ({timeout:g} s)")
            for k, config in todo:
                rows[k] = dict(config, error="not started: the sweep timed out")
            break
        for ref in ready:
            k = running.pop(ref)
            try:
                rows[k] = dict(configs[k], **ray.get(ref))
            except Exception as e:  # noqa: BLE001 - report the trial, run the others
                cause = getattr(e, "cause", None) or e
                rows[k] = dict(configs[k], error=f"{type(cause).__name__}: {cause}")
    return rows


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def format_table(rows, columns) -> str:
    """``rows`` as an aligned text table of ``columns`` (accuracies in percent when the
    column name ends in ``accuracy``; an ``error`` column is added when a row has one).

    >>> print(format_table([{"eta": 0.1, "test_accuracy": 0.9}], ["eta", "test_accuracy"]))
    eta  test_accuracy
    0.1  90.00%
    """
    columns = list(columns)
    if any("error" in r for r in rows) and "error" not in columns:
        columns.append("error")

    def cell(r, c):
        v = r.get(c)
        if c == "error":
            return v or ""
        if c.endswith("accuracy") and isinstance(v, float):
            return f"{v:.2%}"
        return _fmt(v)

    table = [columns] + [[cell(r, c) for c in columns] for r in rows]
    widths = [max(len(row[j]) for row in table) for j in range(len(columns))]
    return "\n".join("  ".join(s.ljust(w) for s, w in zip(row, widths)).rstrip()
                     for row in table)


def plot_sweep(rows, x: str, y: str, series: str | None, path) -> None:
    """Write a plot of ``y`` against ``x`` (log scale when all positive), one line per
    value of ``series``, to ``path`` (PNG unless the suffix says otherwise). Failed
    trials are left out. No pyplot state is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ok = [r for r in rows if "error" not in r and r.get(y) is not None]
    groups = sorted({r.get(series) for r in ok}, key=str) if series else [None]
    scale = 100 if y.endswith("accuracy") else 1
    for g in groups:
        pts = sorted((r[x], r[y] * scale) for r in ok if not series or r.get(series) == g)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                    label=f"{series} = {g}" if series else None)
    xs = [r[x] for r in ok]
    if xs and all(v > 0 for v in xs):
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y + (" (%)" if scale == 100 else ""))
    ax.set_title(f"{y} over {x}")
    ax.grid(alpha=0.3)
    if series and ax.lines:
        ax.legend()
    fig.tight_layout()
    FigureCanvasAgg(fig)
    fig.savefig(path)


def mnist_trial(config: dict, data, spec: dict) -> dict:
    """One ``symgraph-mnist sweep`` trial: network3's ConvPool network (``spec``: filters,
    hidden, activation, dropout, batch_size, epochs, momentum) trained on ``data``
    (``(train, validation, test)`` pairs of arrays) with ``config``'s eta and lmbda."""
    import numpy as np

    import symgraph
    from symgraph.nn import ACTIVATIONS, ConvPoolLayer, FullyConnectedLayer, Network, SoftmaxLayer

    bs, f = spec["batch_size"], spec["filters"]
    act = ACTIVATIONS[spec["activation"]]
    net = Network([
        ConvPoolLayer(image_shape=(bs, 1, 28, 28), filter_shape=(f, 1, 5, 5), poolsize=(2, 2),
                      activation_fn=act),
        FullyConnectedLayer(n_in=f * 12 * 12, n_out=spec["hidden"], activation_fn=act,
                            p_dropout=spec["dropout"]),
        SoftmaxLayer(n_in=spec["hidden"], n_out=10, p_dropout=spec["dropout"])], bs)
    train, val, test = (_shared(d) for d in data)
    # eta and lmbda enter the graph as shared scalars, not constants: every trial then
    # compiles the same graph, so a worker's later trials reuse its first one's machine
    # code (in memory) and other processes find it in the disk cache
    fx = symgraph.config.floatX
    eta = symgraph.shared(np.asarray(config["eta"], dtype=fx), name="eta")
    lmbda = symgraph.shared(np.asarray(config["lmbda"], dtype=fx), name="lmbda")
    n_train = len(data[0][1]) // bs
    t0 = time.perf_counter()
    train_mb = net.build_train_fn(train, bs, eta, lmbda, spec["momentum"], n_train)
    accuracy = {name: _accuracy_fn(net, d) for name, d in (("validation", val), ("test", test))
                if len(d[0].get_value(borrow=True)) >= bs}
    train_mb.dry_run(0)
    for fn, _ in accuracy.values():
        fn(0)
    compile_seconds = time.perf_counter() - t0
    best = (-1.0, None)
    cost, train_seconds = None, 0.0
    for _ in range(spec["epochs"]):
        te = time.perf_counter()
        cost = float(np.mean([train_mb(i) for i in range(n_train)]))
        train_seconds += time.perf_counter() - te
        acc = {name: float(np.mean([fn(j) for j in range(nb)]))
               for name, (fn, nb) in accuracy.items()}
        if "validation" in acc and acc["validation"] >= best[0]:
            best = (acc["validation"], acc.get("test"))
    return {"best_validation_accuracy": best[0] if best[0] >= 0 else None,
            "best_test_accuracy": best[1], "final_cost": cost,
            "compile_seconds": compile_seconds, "train_seconds": train_seconds}


def _shared(data):
    import numpy as np

    import symgraph
    import symgraph.tensor as T

    x = symgraph.shared(np.asarray(data[0], dtype=symgraph.config.floatX), borrow=True)
    y = symgraph.shared(np.asarray(data[1], dtype=symgraph.config.floatX), borrow=True)
    return x, T.cast(y, "int32")


def _accuracy_fn(net, data):
    """``(fn(j) -> accuracy of mini-batch j, number of mini-batches)`` on ``data``."""
    import symgraph
    import symgraph.tensor as T

    x, y = data
    i, bs = T.lscalar("i"), net.mini_batch_size
    fn = symgraph.function([i], net.layers[-1].accuracy(net.y), name="accuracy_mb",
                           givens={net.x: x[i * bs: (i + 1) * bs], net.y: y[i * bs: (i + 1) * bs]})
    return fn, len(x.get_value(borrow=True)) // bs
