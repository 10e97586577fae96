"""A new graph's kernels compile on two processes (``link/numba/plan_compile.py``): the
background worker takes kernels with exact or guessed argument types while this process
goes through the graph; which process compiled a kernel never changes a result."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.link.numba import glue_worker, plan_compile
from symgraph.tensor.nnet import sigmoid, softmax
from symgraph.testing import assert_same_bits


@pytest.fixture
def tiered(monkeypatch):
    monkeypatch.setattr(symgraph.config, "numba_glue", "tiered")


@pytest.fixture
def new_cache(tmp_path, monkeypatch):
    """``new_cache(k)``: the k-th empty cache directory of this test (no module loaded
    from any other): every kernel of a graph is new there."""
    from symgraph.link.numba import cache

    def use(k):
        monkeypatch.setattr(symgraph.config, "cache_dir", str(tmp_path / f"cache{k}"))
        monkeypatch.setattr(cache, "_loaded", {})
    return use


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The training step's results from a plan compiled in this process alone, on an
    empty cache (computed once for the tests comparing against it)."""
    from symgraph.link.numba import cache

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(symgraph.config, "numba_glue", "tiered")
        mp.setattr(symgraph.config, "cache_dir", str(tmp_path_factory.mktemp("alone")))
        mp.setattr(cache, "_loaded", {})
        mp.setattr(plan_compile, "USE_WORKER", False)
        return _training_step()[1]


def _training_step(seed=3):
    """Two layers with a transposed weight, a softmax cost and SGD updates: a dozen
    kernels, several of them independent of each other (the transcendental terms on
    ``x`` are ready together at the first node: the tier runs exact arithmetic, exp,
    tanh and the like, products and the softmax without their kernels, ``tier_numpy.py``,
    ``tier_extern.py``, so the terms are functions it has no loop for: sinh, arctan,
    cosh)."""
    rng = np.random.default_rng(seed)
    x = T.matrix("x")
    y = T.ivector("y")
    W1 = symgraph.shared(rng.standard_normal((6, 5)) * 0.4, name="W1")
    W2 = symgraph.shared(rng.standard_normal((3, 5)) * 0.4, name="W2")
    b = symgraph.shared(np.zeros(3), name="b")
    h = sigmoid(T.dot(x, W1))
    p = softmax(T.dot(h, W2.T) + b)
    cost = (-T.mean(T.log(p)[T.arange(y.shape[0]), y]) + 1e-3 * T.sum(W1 ** 2)
            + 1e-3 * (T.max(T.sinh(x)) + T.max(T.arctan(x)) + T.max(T.cosh(x))))
    grads = T.grad(cost, [W1, W2, b])
    f = symgraph.function([x, y], [cost, p], updates=[
        (v, v - 0.1 * g) for v, g in zip([W1, W2, b], grads)])
    f.executable.hold_python_tier()
    data = (rng.standard_normal((4, 6)), np.array([0, 2, 1, 2], "int32"))
    outs = [f(*data) for _ in range(3)]
    return f, outs + [v.get_value() for v in (W1, W2, b)]


def _tier(f):
    return f.executable.graph_fn.tier


def test_the_worker_compiles_kernels_and_the_bits_are_the_same(alone, tiered, new_cache,
                                                               monkeypatch):
    """With the real worker some kernels are compiled there and loaded here from the
    cache; the results are those of a plan compiled in this process alone. (This process
    waits for the worker's first kernel before compiling its own, so the test does not
    depend on which process is faster.)"""
    new_cache(0)
    compile_here = plan_compile._Plan.compile_here

    def after_the_worker(self, j):
        pending = list(self.jobs.values()) + [g[0] for g in self.guesses.values()]
        if pending and not any(job.done for job in pending):
            for _ in range(600):
                if any(job.event.wait(0.2) for job in pending):
                    break
        compile_here(self, j)

    monkeypatch.setattr(plan_compile._Plan, "compile_here", after_the_worker)
    f, shared = _training_step()
    assert _tier(f).by_worker > 0
    assert_same_bits(alone, shared)


class FakeWorker:
    """Stands in for ``glue_worker`` (its ``submit_kernel``, ``withdraw``, ``available``):
    ``mode`` "idle" never starts a job, "fail" fails each at once, "here" compiles each
    at once in this process, "stuck" starts each and never finishes it."""

    def __init__(self, mode):
        self.mode = mode
        self.jobs: list = []
        self.withdrawn: list = []

    def submit_kernel(self, src, sig, owner, guess=False, ahead=False):
        job = glue_worker.GlueJob({"src": src, "sig": sig, "guess": guess, "ahead": ahead},
                                  owner)
        self.jobs.append(job)
        if self.mode == "fail":
            job.finish(False, "RuntimeError: boom")
        elif self.mode == "here":
            from symgraph.link.numba import cache
            from symgraph.link.numba.fastload import load_or_compile

            try:
                load_or_compile(cache.load_kernel(src), sig)
            except Exception as e:  # noqa: BLE001 - a wrong guess may not compile
                job.finish(False, repr(e))
            else:
                job.finish(True)
        return job

    def withdraw(self, job):
        if job.done or self.mode == "stuck":   # "stuck": every job is running, forever
            return False
        job.finish(False, "withdrawn")
        self.withdrawn.append(job)
        return True

    def available(self):
        return True


def _with_fake(monkeypatch, mode):
    fake = FakeWorker(mode)
    for name in ("submit_kernel", "withdraw", "available"):
        monkeypatch.setattr(glue_worker, name, getattr(fake, name))
    return fake


@pytest.mark.parametrize("mode", ["idle", "fail", "here"])
def test_any_worker_gives_theassert_same_bits(mode, alone, tiered, new_cache, monkeypatch):
    """A worker that never gets to a job (this process takes each back), one whose jobs
    all fail (compiled here) and one that does them all: the same results as without a
    worker, and no job is left behind."""
    new_cache(0)
    fake = _with_fake(monkeypatch, mode)
    f, shared = _training_step()
    assert_same_bits(alone, shared)
    assert fake.jobs and all(job.done for job in fake.jobs)
    assert any(job.payload["guess"] for job in fake.jobs)
    if mode == "here":
        assert _tier(f).by_worker > 0 and not fake.withdrawn
    else:
        assert _tier(f).by_worker == 0


def _convnet():
    from symgraph.tensor.nnet import conv
    from symgraph.tensor.signal import pool

    rng = np.random.default_rng(5)
    x = T.tensor4("x")
    W = symgraph.shared(rng.standard_normal((3, 1, 3, 3)) * 0.3, name="Wc")
    V = symgraph.shared(rng.standard_normal((12, 2)) * 0.3, name="V")
    h = pool.pool_2d(T.maximum(conv.conv2d(x, W), 0), (2, 2), ignore_border=True)
    # (terms the tier has no loop for: the kernels it compiles, one ready at the first
    # node, the other guessed meanwhile)
    cost = (-T.mean(T.log(softmax(T.dot(h.flatten(2), V))[:, 0]))
            + 1e-3 * (T.sum(T.arctan(x)) + T.sum(T.sinh(h))))
    gW, gV = T.grad(cost, [W, V])
    f = symgraph.function([x], cost, updates=[(W, W - 0.1 * gW), (V, V - 0.1 * gV)])
    f.executable.hold_python_tier()
    f(rng.standard_normal((2, 1, 6, 6)))
    return f


def _rnn():
    scope: dict = {}
    exec(_RNN, scope)   # noqa: S102 - the test's own graph
    scope["f"].executable.hold_python_tier()
    scope["f"](scope["data"])
    return scope["f"]


def test_a_stuck_worker_does_not_block_the_plan(alone, tiered, new_cache, monkeypatch):
    """Jobs the worker started and never finishes: after ``WAIT_LIMIT`` this process
    compiles those kernels itself, with the same results."""
    monkeypatch.setattr(plan_compile, "WAIT_LIMIT", 0.02)
    new_cache(0)
    fake = _with_fake(monkeypatch, "stuck")
    f, shared = _training_step()
    assert_same_bits(alone, shared)
    assert any(not job.payload["guess"] for job in fake.jobs)   # waited for, then here
    assert _tier(f).by_worker == 0


@pytest.mark.parametrize("graph", ["mlp", "convnet", "rnn"])
def test_guesses_match_the_types_found(graph, tiered, new_cache, monkeypatch):
    """The guessed argument types (dtype and rank; C order for a new array, a view's
    layout by Numba's typing of the view) are the types the kernels get here: every
    kernel the worker compiled, guessed or exact, is loaded, none is wasted. Covers
    transposes, slices of a scan's results, broadcasting views and in-place updates."""
    new_cache(0)
    fake = _with_fake(monkeypatch, "here")
    f = {"mlp": lambda: _training_step()[0], "convnet": _convnet, "rnn": _rnn}[graph]()
    assert any(job.payload["guess"] for job in fake.jobs)
    # (a scan's loop kernel is sent ahead for the glue, which loads it, not the plan)
    planned = [job for job in fake.jobs if not job.payload["ahead"]]
    assert _tier(f).by_worker == len(planned)
    assert (len(planned) < len(fake.jobs)) == (graph == "rnn")


def test_wrong_guesses_are_taken_back(alone, tiered, new_cache, monkeypatch):
    """Guesses that turn out wrong (every array guessed with layout 'A', views too) are
    withdrawn while queued; the results do not change."""
    plain = plan_compile.new_value_type
    monkeypatch.setattr(plan_compile, "new_value_type", lambda dtype, ndim: (
        plain(dtype, ndim).copy(layout="A") if ndim else plain(dtype, ndim)))
    monkeypatch.setattr(plan_compile, "view_type", lambda base, steps: None)
    new_cache(0)
    fake = _with_fake(monkeypatch, "idle")
    f, shared = _training_step()
    assert_same_bits(alone, shared)
    wrong = [job for job in fake.jobs if job.payload["guess"]
             and any(getattr(t, "layout", "C") == "A" for t in job.payload["sig"])]
    assert wrong and all(job in fake.withdrawn for job in wrong)
    assert _tier(f).by_worker == 0


def test_nodes_with_one_kernel_and_types_share_one_job(tiered, new_cache, monkeypatch):
    """Three layers of one shape: their weight gradients' products (and the layers'
    products) are one kernel for one signature each, queued to the worker once (each its
    own job, this process took one back and compiled it while the worker compiled the
    same kernel for another node)."""
    new_cache(0)
    fake = _with_fake(monkeypatch, "idle")
    rng = np.random.default_rng(0)
    x = T.matrix("x")
    Ws = [symgraph.shared(rng.standard_normal((5, 5)) * 0.3, name=f"W{k}") for k in range(3)]
    h = x
    for W in Ws:
        h = T.arctan(T.dot(h, W))
    gs = T.grad(T.sum(h ** 2), Ws)
    f = symgraph.function([x], T.sum(h), updates=[(W, W - 0.1 * g) for W, g in zip(Ws, gs)])
    f(rng.standard_normal((4, 5)))
    refs = [ref for ref, _, _ in f.executable.module._sg_tier["nodes"] if isinstance(ref, str)]
    assert len(refs) > len(set(refs))   # some kernel serves several nodes
    keys = [(job.payload["src"], tuple(job.payload["sig"])) for job in fake.jobs]
    assert keys and len(keys) == len(set(keys))


def test_queue_order_and_withdraw():
    """Kernel jobs go to the worker before guesses, guesses before kernels only the glue
    needs (a scan's loop: ``ahead``), those before glue; a job not sent yet can be taken
    back (finished as withdrawn), a sent one cannot."""
    class Owner:
        pass

    o = Owner()
    c = glue_worker.GlueCompiler()
    c.busy = object()   # the worker is busy: jobs wait in their queues
    glue, ahead, guess, kernel = (glue_worker.GlueJob({"n": k}, o) for k in range(4))
    c.submit(glue)
    c.submit(ahead, "ahead")
    c.submit(guess, "guesses")
    c.submit(kernel, "kernels")
    order = []
    while c.kernels or c.guesses or c.ahead or c.queue:
        order.append((c.kernels or c.guesses or c.ahead or c.queue)[0])
        assert c.withdraw(order[-1])
    assert order == [kernel, guess, ahead, glue]
    assert all(j.done and not j.ok and j.error == "withdrawn" for j in order)
    sent = glue_worker.GlueJob({}, o)
    assert not c.withdraw(sent) and not sent.done


_RNN = """
import numpy as np
import symgraph
import symgraph.tensor as T

xs = T.tensor3("xs")
Wx = symgraph.shared(np.linspace(-1, 1, 12).reshape(3, 4), name="Wx")
Wh = symgraph.shared(np.linspace(-0.5, 0.5, 16).reshape(4, 4), name="Wh")
h0 = T.zeros((xs.shape[1], 4))
hs, _ = symgraph.scan(lambda x_t, h: T.tanh(T.dot(x_t, Wx) + T.dot(h, Wh)),
                      sequences=xs, outputs_info=h0)
g = T.grad(T.sum(hs[-1] ** 2), Wx)
# transcendentals before the loop and on slices of its results: kernels the tier compiles
# (its exact arithmetic, products, exp, tanh... need none); the arctan of a sum of the
# first's results is guessed while the first compiles
f = symgraph.function([xs], [hs, g, T.arctan(T.sinh(xs).sum(axis=0)),
                             T.arctan(hs[1:, :, ::2]).sum(axis=0)])
data = np.linspace(-1, 1, 30).reshape(5, 2, 3)
"""


def test_a_scan_kernel_another_process_compiled_loads_here(tiered, new_cache, tmp_path,
                                                           monkeypatch):
    """A scan kernel links its step's code, which calls the step's kernels by symbol.
    When another process (the worker) compiled the kernel after this one imported the
    step module, the step module's link table is re-read before the kernel loads: the
    machine code loads as it is (no "unusable entry", no compile here) and agrees."""
    import os
    import subprocess
    import sys
    import warnings

    monkeypatch.setattr(plan_compile, "USE_WORKER", False)
    new_cache(0)
    scope: dict = {}
    exec(_RNN, scope)   # noqa: S102 - the test's own graph: modules imported, nothing compiled
    env = dict(os.environ, SYMGRAPH_FLAGS=f"cache_dir={symgraph.config.cache_dir},"
               "numba_glue=compiled", PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    subprocess.run([sys.executable, "-c", _RNN + "f(data)\n"], env=env, check=True,
                   timeout=600)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outs = scope["f"](scope["data"])
    assert not [w for w in caught if "unusable" in str(w.message)]
    monkeypatch.setattr(symgraph.config, "numba_glue", "compiled")
    new_cache(1)
    exec(_RNN, scope)   # noqa: S102
    assert_same_bits(outs, scope["f"](scope["data"]))
