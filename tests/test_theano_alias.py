"""``import symgraph.compat.theano_alias`` and ``python -m symgraph.run_theano`` (issue 21
item 3): code that imports ``theano`` itself -- a layer library -- runs unchanged.

Each case runs in a subprocess: the alias changes the import system of its whole process.
The training script runs on the py backend (``mode=py``) to keep the test fast; the alias
only decides which modules ``import theano`` gives, not how graphs run.
"""
import os
import subprocess
import sys
import textwrap

import pytest

LAYERS = '''
import numpy as np
import theano
import theano.tensor as T
from theano.tensor.nnet import conv2d
from theano.tensor.signal import pool


class ConvPoolLayer(object):
    def __init__(self, rng, input, filter_shape, image_shape, poolsize=(2, 2)):
        W = np.asarray(rng.uniform(-0.1, 0.1, size=filter_shape), dtype=theano.config.floatX)
        self.W = theano.shared(W, borrow=True)
        self.b = theano.shared(np.zeros((filter_shape[0],), dtype=theano.config.floatX))
        out = conv2d(input=input, filters=self.W, filter_shape=filter_shape,
                     input_shape=image_shape)
        pooled = pool.pool_2d(input=out, ws=poolsize, ignore_border=True)
        self.output = T.tanh(pooled + self.b.dimshuffle('x', 0, 'x', 'x'))
        self.params = [self.W, self.b]
'''

TRAIN = '''
import numpy as np
import theano
import theano.tensor as T
from layers import ConvPoolLayer

x = T.tensor4('x')
y = T.ivector('y')
rng = np.random.RandomState(1234)
layer = ConvPoolLayer(rng, x, filter_shape=(2, 1, 3, 3), image_shape=(4, 1, 6, 6))
W = theano.shared(np.zeros((8, 3), dtype=theano.config.floatX), name='W')
p_y = T.nnet.softmax(T.dot(layer.output.flatten(2), W))
cost = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y])
params = layer.params + [W]
grads = T.grad(cost, params)
train = theano.function([x, y], cost,
                        updates=[(p, p - 0.5 * g) for p, g in zip(params, grads)])
xv = rng.rand(4, 1, 6, 6).astype(theano.config.floatX)
yv = np.array([0, 1, 2, 1], dtype='int32')
costs = [float(train(xv, yv)) for _ in range(4)]
assert costs[-1] < costs[0], costs

# the submodules Theano code imports
import symgraph
import theano.gof, theano.gof.graph, theano.gradient, theano.printing, theano.compile
import theano.tensor.nnet, theano.tensor.signal.pool, theano.tensor.shared_randomstreams
import theano.shared_randomstreams, theano.ifelse, theano.scan_module
from theano.ifelse import ifelse
from theano.tensor.shared_randomstreams import RandomStreams
from theano.gof.graph import inputs
from theano.sandbox.rng_mrg import MRG_RandomStreams
assert MRG_RandomStreams is symgraph.sandbox.rng_mrg.MRG_RandomStreams
import theano.tensor.sort, theano.tensor.extra_ops, theano.tensor.nnet.bn
assert callable(T.sort) and T.sort.__name__ == 'sort'   # still the function
from theano.tensor.signal.pool import pool_3d
from theano.tensor.nnet import conv3d, batch_normalization
assert theano is symgraph and T is symgraph.tensor
assert theano.tensor.nnet is symgraph.tensor.nnet
assert T.nnet.conv2d is symgraph.tensor.nnet.conv2d
assert symgraph.tensor.__spec__.name == "symgraph.tensor"   # symgraph's own identity kept
assert inputs([cost])[0] is x
assert theano.gradient.grad_clip is symgraph.gradient_ops.grad_clip
try:
    import theano.d3viz
except ModuleNotFoundError as e:
    assert "symgraph" in str(e) and "theano.d3viz" in str(e), e
else:
    raise AssertionError("theano.d3viz imported")
print("costs", costs)
'''


def _run(args, cwd, extra_path=None, flags="mode=py"):
    env = dict(os.environ)
    old = env.get("SYMGRAPH_FLAGS")
    env["SYMGRAPH_FLAGS"] = f"{old},{flags}" if old else flags
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path)] + (
            [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def fake_theano(tmp_path_factory):
    """A folder holding a package named ``theano`` that is not symgraph."""
    d = tmp_path_factory.mktemp("real_theano")
    (d / "theano").mkdir()
    (d / "theano" / "__init__.py").write_text("__version__ = '1.0.5-fake'\n")
    return d


def test_layer_library_runs_unchanged(tmp_path, fake_theano):
    (tmp_path / "layers.py").write_text(LAYERS)
    (tmp_path / "train.py").write_text(TRAIN)
    # an installed (but not imported) Theano must not win over the alias
    r = _run(["-m", "symgraph.run_theano", "train.py"], tmp_path, extra_path=fake_theano)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "costs" in r.stdout


def test_refuses_when_real_theano_is_imported(tmp_path, fake_theano):
    code = textwrap.dedent("""
        import theano
        try:
            import symgraph.compat.theano_alias
        except ImportError as e:
            assert "real Theano" in str(e) and "1.0.5-fake" in str(e), e
            print("refused")
        else:
            raise AssertionError("alias installed over a real Theano")
        import symgraph.compat.theano_alias as a
    """)
    r = _run(["-c", code], tmp_path, extra_path=fake_theano)
    assert "refused" in r.stdout, r.stdout + r.stderr
    # the module's import failed, so a second import tries (and refuses) again
    assert r.returncode != 0 and "RealTheanoImportedError" in r.stderr


def test_run_theano_usage_and_missing_script(tmp_path):
    r = _run(["-m", "symgraph.run_theano"], tmp_path)
    assert r.returncode == 2 and "usage" in r.stderr
    r = _run(["-m", "symgraph.run_theano", "nope.py"], tmp_path)
    assert r.returncode == 2 and "no such script" in r.stderr
