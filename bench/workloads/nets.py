"""The two training networks on every system, as ``step(i)`` closures on synthetic data.

- ``convpool``: network3's ConvPool(20 5x5, max-pool 2x2, ReLU) -> FC(2880->100, ReLU)
  -> Softmax(10), log-likelihood + ``0.5 * lmbda * sum(w**2) / n_batches`` (L2 over every
  layer's weights), plain SGD ``eta`` (0.03), ``lmbda`` (0.1), float32.
- ``mlp``: ``depth`` FC(->100, ReLU) layers then Softmax(10) on 784 inputs, same cost/SGD.

Data: ``n_batches`` mini-batches of uniform [0, 1) images and random labels, kept in the
system's own memory (symgraph/PyTensor shared variables, torch tensors, jax arrays);
``step(i)`` trains on mini-batch ``i % n_batches`` and returns once the update is done.
``spec`` (a dict) shrinks the networks for the smoke run.
"""
from __future__ import annotations

import numpy as np

ETA, LMBDA, EPOCH_BATCHES_OF = 0.03, 0.1, 60000
CONV = {"img": 28, "filters": 20, "k": 5, "hidden": 100, "classes": 10}
MLP = {"n_in": 784, "hidden": 100, "classes": 10}


def _data(bs, n_batches, n_in, classes, seed=0):
    r = np.random.default_rng(seed)
    return (r.random((bs * n_batches, n_in), dtype=np.float32),
            r.integers(0, classes, bs * n_batches).astype(np.int32))


def _conv_flat(spec):
    side = (spec["img"] - spec["k"] + 1) // 2
    return spec["filters"] * side * side


# ---------------------------------------------------------------------------- symgraph
def symgraph_net(kind, bs, spec=None, depth=1, mode=None, n_batches=20):
    """(network, train_fn builder) ; the builder compiles and returns ``train_mb``."""
    import symgraph as theano
    import symgraph.tensor as T
    from symgraph.nn import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer

    theano.config.floatX = "float32"
    rng = np.random.default_rng(1)
    if kind == "convpool":
        s = dict(CONV, **(spec or {}))
        layers = [ConvPoolLayer(image_shape=(bs, 1, s["img"], s["img"]),
                                filter_shape=(s["filters"], 1, s["k"], s["k"]), poolsize=(2, 2),
                                activation_fn=ReLU, rng=rng),
                  FullyConnectedLayer(_conv_flat(s), s["hidden"], activation_fn=ReLU, rng=rng)]
        # ``depth`` > 1: more FC(100->100) layers (symgraph's compile rows only: a new
        # graph made of ops network3 already has)
        layers += [FullyConnectedLayer(s["hidden"], s["hidden"], activation_fn=ReLU, rng=rng)
                   for _ in range(depth - 1)]
        layers.append(SoftmaxLayer(s["hidden"], s["classes"]))
        n_in = s["img"] * s["img"]
    else:
        s = dict(MLP, **(spec or {}))
        layers, n = [], s["n_in"]
        for _ in range(depth):
            layers.append(FullyConnectedLayer(n, s["hidden"], activation_fn=ReLU, rng=rng))
            n = s["hidden"]
        layers.append(SoftmaxLayer(n, s["classes"]))
        n_in = s["n_in"]
    x, y = _data(bs, n_batches, n_in, s["classes"])
    net = Network(layers, bs)
    data = (theano.shared(x, borrow=True),
            T.cast(theano.shared(y.astype(np.float32), borrow=True), "int32"))

    def build():
        return net.build_train_fn(data, bs, ETA, LMBDA,
                                  num_training_batches=EPOCH_BATCHES_OF // bs, mode=mode)
    return build, n_batches


def symgraph_step(kind, bs, spec=None, depth=1):
    """(step, function_seconds, first_call_seconds)."""
    import time
    build, nb = symgraph_net(kind, bs, spec, depth)
    t0 = time.perf_counter()
    f = build()
    t1 = time.perf_counter()
    f(0)
    t2 = time.perf_counter()
    # steps are timed on the compiled glue (the steady state): a new graph's first calls
    # run on the Python tier while it compiles in the background (link/numba/tiered.py)
    deadline = time.perf_counter() + 600
    k = 1
    while getattr(f.executable, "tiered", False) and time.perf_counter() < deadline:
        f(k % nb)
        k += 1
        time.sleep(0.001)
    return (lambda i: f(i % nb)), t1 - t0, t2 - t1


# ---------------------------------------------------------------------------- torch
def torch_step(kind, bs, spec=None, depth=1, n_batches=20):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if kind == "convpool":
        s = dict(CONV, **(spec or {}))
        n_in = s["img"] * s["img"]
        ps = [torch.randn(s["filters"], 1, s["k"], s["k"]) * 0.1, torch.randn(s["filters"]),
              torch.randn(_conv_flat(s), s["hidden"]) * 0.1, torch.randn(s["hidden"]),
              torch.zeros(s["hidden"], s["classes"]), torch.zeros(s["classes"])]
    else:
        s = dict(MLP, **(spec or {}))
        n_in, ps, n = s["n_in"], [], s["n_in"]
        for _ in range(depth):
            ps += [torch.randn(n, s["hidden"]) * 0.1, torch.randn(s["hidden"])]
            n = s["hidden"]
        ps += [torch.zeros(n, s["classes"]), torch.zeros(s["classes"])]
    for p in ps:
        p.requires_grad_(True)
    x, y = _data(bs, n_batches, n_in, s["classes"])
    X, Y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    ws = ps[0::2]
    nb_epoch = EPOCH_BATCHES_OF // bs

    def forward(xb):
        if kind == "convpool":
            h = xb.reshape(bs, 1, s["img"], s["img"])
            h = F.relu(F.max_pool2d(F.conv2d(h, ps[0]), 2) + ps[1].view(1, -1, 1, 1))
            h = F.relu(h.reshape(bs, -1) @ ps[2] + ps[3])
            return h @ ps[4] + ps[5]
        h = xb
        for j in range(depth):
            h = F.relu(h @ ps[2 * j] + ps[2 * j + 1])
        return h @ ps[-2] + ps[-1]

    def step(i):
        j = i % n_batches
        xb, yb = X[j * bs:(j + 1) * bs], Y[j * bs:(j + 1) * bs]
        loss = F.cross_entropy(forward(xb), yb) + 0.5 * LMBDA * sum(
            (w * w).sum() for w in ws) / nb_epoch
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p.sub_(ETA * p.grad)
                p.grad = None
        return loss
    return step


# ---------------------------------------------------------------------------- jax
def jax_step(kind, bs, spec=None, depth=1, n_batches=20):
    import jax
    import jax.numpy as jnp

    r = np.random.default_rng(0)
    if kind == "convpool":
        s = dict(CONV, **(spec or {}))
        n_in = s["img"] * s["img"]
        shapes = [(s["filters"], 1, s["k"], s["k"]), (s["filters"],),
                  (_conv_flat(s), s["hidden"]), (s["hidden"],)]
        last = s["hidden"]
    else:
        s = dict(MLP, **(spec or {}))
        n_in, shapes, n = s["n_in"], [], s["n_in"]
        for _ in range(depth):
            shapes += [(n, s["hidden"]), (s["hidden"],)]
            n = s["hidden"]
        last = n
    params = [jnp.asarray(r.normal(0, 0.1, sh).astype(np.float32)) for sh in shapes]
    params += [jnp.zeros((last, s["classes"]), jnp.float32), jnp.zeros(s["classes"], jnp.float32)]
    x, y = _data(bs, n_batches, n_in, s["classes"])
    X, Y = jnp.asarray(x), jnp.asarray(y)
    nb_epoch = EPOCH_BATCHES_OF // bs

    def loss_fn(ps, xb, yb):
        if kind == "convpool":
            h = xb.reshape(bs, 1, s["img"], s["img"])
            h = jax.lax.conv_general_dilated(h, ps[0], (1, 1), "VALID")
            h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2),
                                      "VALID")
            h = jax.nn.relu(h + ps[1].reshape(1, -1, 1, 1)).reshape(bs, -1)
            h = jax.nn.relu(h @ ps[2] + ps[3])
        else:
            h = xb
            for j in range(depth):
                h = jax.nn.relu(h @ ps[2 * j] + ps[2 * j + 1])
        logp = jax.nn.log_softmax(h @ ps[-2] + ps[-1])
        nll = -jnp.mean(logp[jnp.arange(bs), yb])
        return nll + 0.5 * LMBDA * sum((w * w).sum() for w in ps[0::2]) / nb_epoch

    @jax.jit
    def train(ps, j):
        xb = jax.lax.dynamic_slice_in_dim(X, j * bs, bs)
        yb = jax.lax.dynamic_slice_in_dim(Y, j * bs, bs)
        loss, g = jax.value_and_grad(loss_fn)(ps, xb, yb)
        return [p - ETA * gp for p, gp in zip(ps, g)], loss

    state = {"ps": params}

    def step(i):
        state["ps"], loss = train(state["ps"], i % n_batches)
        loss.block_until_ready()
        return loss
    return step


# ---------------------------------------------------------------------------- pytensor
def pytensor_step(kind, bs, spec=None, depth=1, n_batches=20, mode=None):
    """``mode``: PyTensor's compile mode (``None``: its default, NUMBA in PyTensor 3.x;
    ``"CVM"``/``"C"``: its C backends), for the compile-time rows of ``compile.py``."""
    if kind == "convpool":
        raise NotImplementedError("pytensor 3.x has no batched 2-D convolution op "
                                  "(the conv module was removed); ConvPool skipped")
    import pytensor
    import pytensor.tensor as pt
    from pytensor.tensor.special import log_softmax

    s = dict(MLP, **(spec or {}))
    r = np.random.default_rng(0)
    ps, n = [], s["n_in"]
    for _ in range(depth):
        ps += [pytensor.shared(r.normal(0, 0.1, (n, s["hidden"])).astype(np.float32)),
               pytensor.shared(r.normal(0, 1, s["hidden"]).astype(np.float32))]
        n = s["hidden"]
    ps += [pytensor.shared(np.zeros((n, s["classes"]), np.float32)),
           pytensor.shared(np.zeros(s["classes"], np.float32))]
    x, y = _data(bs, n_batches, s["n_in"], s["classes"])
    X, Y = pytensor.shared(x), pytensor.shared(y)
    i = pt.lscalar("i")
    xb, yb = X[i * bs:(i + 1) * bs], Y[i * bs:(i + 1) * bs]
    h = xb
    for j in range(depth):
        h = pt.maximum(pt.dot(h, ps[2 * j]) + ps[2 * j + 1], 0)
    logp = log_softmax(pt.dot(h, ps[-2]) + ps[-1], axis=-1)
    cost = -pt.mean(logp[pt.arange(bs), yb]) + 0.5 * LMBDA * sum(
        (w ** 2).sum() for w in ps[0::2]) / (EPOCH_BATCHES_OF // bs)
    grads = pytensor.grad(cost, ps)
    f = pytensor.function([i], cost, updates=[(p, p - np.float32(ETA) * g)
                                              for p, g in zip(ps, grads)], mode=mode)
    return lambda k: f(k % n_batches)


# ---------------------------------------------------------------------------- numpy
def numpy_step(kind, bs, spec=None, depth=1, n_batches=20):
    """Hand-written forward/backward (MLP only: no numpy convolution)."""
    if kind == "convpool":
        raise NotImplementedError("numpy has no convolution; no hand-written ConvPool step")
    s = dict(MLP, **(spec or {}))
    r = np.random.default_rng(0)
    ws, bs_, n = [], [], s["n_in"]
    for _ in range(depth):
        ws.append(r.normal(0, 0.1, (n, s["hidden"])).astype(np.float32))
        bs_.append(r.normal(0, 1, s["hidden"]).astype(np.float32))
        n = s["hidden"]
    ws.append(np.zeros((n, s["classes"]), np.float32))
    bs_.append(np.zeros(s["classes"], np.float32))
    x, y = _data(bs, n_batches, s["n_in"], s["classes"])
    scale = np.float32(LMBDA / (EPOCH_BATCHES_OF // bs))
    eta = np.float32(ETA)
    rows = np.arange(bs)

    def step(i):
        j = i % n_batches
        xb, yb = x[j * bs:(j + 1) * bs], y[j * bs:(j + 1) * bs]
        acts = [xb]
        for k in range(depth):
            acts.append(np.maximum(acts[-1] @ ws[k] + bs_[k], 0))
        z = acts[-1] @ ws[-1] + bs_[-1]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[rows, yb]).mean()
        d = p
        d[rows, yb] -= 1
        d /= bs
        for k in range(depth, -1, -1):
            gw = acts[k].T @ d + scale * ws[k]
            gb = d.sum(axis=0)
            if k:
                d = (d @ ws[k].T) * (acts[k] > 0)
            ws[k] -= eta * gw
            bs_[k] -= eta * gb
        return loss
    return step


BUILDERS = {"torch": torch_step, "jax": jax_step, "pytensor": pytensor_step,
            "numpy": numpy_step}
