"""Debugging modes Theano users rely on (issue 21, item 4): NanGuardMode, DebugMode,
compute_test_value, warn_float64, validated config values, plus dict outputs."""
import pickle
import warnings

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.debugmode import BadThunkOutput, DebugMode, InvalidValueError
from symgraph.compile.nanguardmode import NanGuardError, NanGuardMode
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.graph.test_value import TestValueError
from symgraph.link.numba.dispatch import NumbaCode, numba_impl
from symgraph.tensor.float64_check import Float64Error

HERE = __file__


@pytest.fixture
def config_flag():
    """Set config flags for one test and restore them after."""
    old = {}

    def set_(**kw):
        for k, v in kw.items():
            old.setdefault(k, getattr(theano.config, k))
            setattr(theano.config, k, v)

    yield set_
    for k, v in old.items():
        setattr(theano.config, k, v)


class Skewed(Op):
    """2 * x in the numpy reference, 2 * x + 1e-3 in the Numba backend: a backend bug
    for DebugMode to find."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        return [inputs[0] * 2.0]


@numba_impl.register(Skewed)
def _skewed(op, node, ctx):
    return NumbaCode(f"def {ctx.name}(x):\n    return x * 2.0 + 1e-3\n")


# -- NanGuardMode ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def guarded_sgd():
    x = T.dvector("x")
    w = theano.shared(np.ones(3), name="w")
    y = T.log(x) * w                         # the line NanGuardMode must name
    cost = y.sum()
    f = theano.function([x], cost, updates=[(w, w - 0.1 * T.grad(cost, w))],
                        mode=NanGuardMode(nan_is_error=True, inf_is_error=True,
                                          big_is_error=True))
    return f, w


def test_nanguard_names_first_bad_node_and_line_numba(guarded_sgd):
    f, w = guarded_sgd
    assert f.maker.mode.linker == "numba"
    assert float(f(np.ones(3))) == 0.0
    w.set_value(np.ones(3))
    with pytest.raises(NanGuardError) as e:
        f(np.array([1.0, -1.0, 2.0]))
    msg = str(e.value)
    assert msg.startswith("NaN detected")
    assert "Elemwise{log}" in msg and "in the output of a node" in msg
    assert f'File "{HERE}"' in msg and "y = T.log(x) * w" in msg
    np.testing.assert_array_equal(w.get_value(), np.ones(3))    # nothing committed
    with pytest.raises(NanGuardError, match="Inf detected"):
        f(np.array([1.0, 0.0, 2.0]))
    with pytest.raises(NanGuardError, match="(?s)Big value detected.*an input of the graph"):
        f(np.array([1.0, 1e11, 2.0]))
    np.testing.assert_array_equal(w.get_value(), np.ones(3))
    assert isinstance(f(np.full(3, 2.0)), np.ndarray)            # good calls still commit
    assert not np.array_equal(w.get_value(), np.ones(3))


def test_nanguard_checks_values_that_reach_no_output():
    """As Theano's NanGuardMode: a NaN in a discarded switch branch is an error too, named
    at its node and line, and nothing is committed."""
    x = T.dvector("x")
    s = theano.shared(np.zeros(3), name="s")
    hidden = T.log(x)                        # NaN for x < 0, then discarded
    out = T.switch(x > 0, hidden, 0.0)
    f = theano.function([x], out.sum(), updates=[(s, s + 1)],
                        mode=NanGuardMode(nan_is_error=True, inf_is_error=False,
                                          big_is_error=False))
    assert float(f(np.array([1.0, 2.0, 3.0]))) == pytest.approx(np.log(6.0))
    with pytest.raises(NanGuardError, match="(?s)NaN detected.*Elemwise{log}.*no output") as e:
        f(np.array([1.0, -1.0, 2.0]))
    assert "hidden = T.log(x)" in str(e.value)
    np.testing.assert_array_equal(s.get_value(), np.ones(3))      # only the good call


def test_nanguard_flags_and_arguments():
    x = T.dvector("x")
    f = theano.function([x], T.log(x), mode=NanGuardMode(nan_is_error=False,
                                                          inf_is_error=True,
                                                          big_is_error=False))
    assert np.isnan(f(np.array([-1.0]))[0])                      # NaN allowed
    with pytest.raises(NanGuardError, match="Inf detected"):
        f(np.array([0.0]))
    with pytest.raises(ValueError, match="at least one"):
        NanGuardMode(False, False, False)
    with pytest.raises(TypeError, match="nan_is_error"):
        NanGuardMode(nan_is_error="yes")
    g = theano.function([x], x * 2, mode="NanGuardMode")        # by name, defaults True
    with pytest.raises(NanGuardError, match="NaN detected"):
        g(np.array([np.nan]))


def test_nanguard_reports_a_backend_only_nan():
    class NanOnNumba(Skewed):
        pass

    @numba_impl.register(NanOnNumba)
    def _gen(op, node, ctx):
        return NumbaCode(f"def {ctx.name}(x):\n    return x * np.nan\n")

    x = T.dvector("x")
    f = theano.function([x], NanOnNumba()(x), mode=NanGuardMode())
    with pytest.raises(NanGuardError, match="(?s)numba backend.*numpy reference computes"):
        f(np.ones(2))


# -- DebugMode -------------------------------------------------------------------------

def test_debugmode_runs_both_backends_and_agrees():
    x = T.dvector("x")
    w = theano.shared(np.ones(3), name="w")
    f = theano.function([x], [T.exp(x).sum(), x * 3], updates=[(w, w * 2 + x)],
                        mode="DebugMode")
    assert f._fn.maker.mode.linker == "numba" and f._ref.maker.mode.linker == "py"
    s, t = f(np.ones(3))
    np.testing.assert_allclose(s, 3 * np.e)
    np.testing.assert_allclose(w.get_value(), [3.0, 3.0, 3.0])
    g = pickle.loads(pickle.dumps(f))                            # still a DebugMode function
    assert type(g).__name__ == "DebugFunction"


def test_debugmode_raises_on_a_backend_difference():
    x = T.dvector("x")
    w = theano.shared(np.zeros(2), name="w")
    out = Skewed()(x)                                            # the reported line
    f = theano.function([x], out, updates=[(w, w + 1)], mode=DebugMode())
    with pytest.raises(BadThunkOutput) as e:
        f(np.ones(2))
    msg = str(e.value)
    assert "numba backend and the py reference disagree on output 0" in msg
    assert "out = Skewed()(x)" in msg and "2.001" in msg and "vs the reference's 2.0" in msg
    assert "First node that differs" in msg and "Skewed, output 0" in msg
    np.testing.assert_array_equal(w.get_value(), [0.0, 0.0])     # nothing committed
    # a tolerance wide enough accepts it
    f2 = theano.function([x], out, mode=DebugMode(atol=1e-2))
    np.testing.assert_allclose(f2(np.ones(2)), [2.001, 2.001])


def test_debugmode_check_isfinite():
    x = T.dvector("x")
    f = theano.function([x], T.log(x), mode="DebugMode")
    with pytest.raises(InvalidValueError, match="NaN in output 0"):
        f(np.array([-1.0]))
    g = theano.function([x], T.log(x), mode=DebugMode(check_isfinite=False))
    assert np.isnan(g(np.array([-1.0]))[0])
    with pytest.raises(ValueError, match="compare the reference with itself"):
        DebugMode(linker="py")


# -- compute_test_value -----------------------------------------------------------------

def test_compute_test_value_reports_shape_errors_at_build_time(config_flag):
    config_flag(compute_test_value="raise")
    x = T.matrix("x")
    x.tag.test_value = np.zeros((5, 3))
    y = T.vector("y")
    y.tag.test_value = np.zeros(4)
    h = T.tanh(x).sum(axis=0)
    np.testing.assert_array_equal(h.tag.test_value, np.zeros(3))     # carried along
    with pytest.raises(ValueError) as e:
        z = x + y                                                    # the reported line
    msg = str(e.value)
    assert "(5, 3)" in msg and "(1, 4)" in msg and "test value" in msg
    assert f'File "{HERE}"' in msg and "z = x + y" in msg
    with pytest.raises(ValueError, match="not aligned"):
        T.dot(x, y)
    v = T.vector("v")
    with pytest.raises(TestValueError, match="v.tag.test_value"):
        v * 2                                                        # missing test value
    with pytest.raises(AttributeError, match="no test value"):
        v.get_test_value()
    assert x.get_test_value().shape == (5, 3) and h.get_test_value().shape == (3,)
    w = theano.shared(np.ones(3))                                    # shared: its value
    assert (h + w).tag.test_value.shape == (3,)
    bad = T.matrix("bad")
    bad.tag.test_value = np.zeros(3)
    with pytest.raises(TypeError, match="test value"):
        bad + 1


def test_compute_test_value_through_grad(config_flag):
    # grad rebuilds parts of the cost graph (stable forms) without Op.__call__; their
    # test values are computed on demand, so 'raise' works with T.grad as in Theano
    config_flag(compute_test_value="raise")
    x = T.matrix("x")
    x.tag.test_value = np.random.default_rng(0).standard_normal((4, 3))
    w = theano.shared(np.ones(3), name="w")
    cost = T.log(T.nnet.sigmoid(T.dot(x, w))).mean()
    g = T.grad(cost, w)
    assert g.tag.test_value.shape == (3,)
    f = theano.function([x], g, mode="py")
    np.testing.assert_allclose(g.tag.test_value, f(x.tag.test_value))


def test_compute_test_value_warn_ignore_off(config_flag):
    v = T.vector("v")
    config_flag(compute_test_value="warn")
    with pytest.warns(UserWarning, match="no test") as rec:
        v * 2
    assert rec[0].filename == HERE
    config_flag(compute_test_value="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = v * 2
    assert not hasattr(r.tag, "test_value")
    config_flag(compute_test_value="off")
    x = T.matrix("x")
    x.tag.test_value = np.zeros((5, 3))
    y = T.vector("y")
    y.tag.test_value = np.zeros(4)
    x + y                                    # 'off': nothing is evaluated


# -- warn_float64 ------------------------------------------------------------------------

def test_warn_float64(config_flag):
    config_flag(warn_float64="raise")
    with pytest.raises(Float64Error) as e:
        T.dvector("d")
    assert "warn_float64" in str(e.value) and f'File "{HERE}"' in str(e.value)
    f = T.fvector("f")
    with pytest.raises(Float64Error):
        f * np.float64(2.0) + T.dscalar()
    g = (f * 2).mean()                       # a float32 graph creates no float64 variable
    T.grad(g, f)
    config_flag(warn_float64="warn")
    with pytest.warns(UserWarning, match="float64") as rec:
        T.dmatrix()
    assert rec[0].filename == HERE
    config_flag(warn_float64="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T.dmatrix()


# -- config validation and function arguments -------------------------------------------

@pytest.mark.parametrize("name,value", [
    ("warn_float64", "bogus"), ("compute_test_value", "on"), ("on_unused_input", "bogus"),
    ("floatX", "float128"), ("device", "gpu7"), ("mode", "FAST"), ("optimizer", "fastest"),
    ("profile", "maybe"), ("cache_dir", 3), ("optimizer_excluding", None)])
def test_every_config_value_is_validated(name, value):
    before = getattr(theano.config, name)
    with pytest.raises(ValueError, match=f"config.{name}"):
        setattr(theano.config, name, value)
    assert getattr(theano.config, name) == before
    with pytest.raises(AttributeError, match="no setting"):
        theano.config.warn_floa64 = "raise"


def test_flags_string_is_validated():
    from symgraph.config import Config

    c = Config()
    c.apply_flags("warn_float64=warn,profile=true,optimizer=None")
    assert (c.warn_float64, c.profile, c.optimizer) == ("warn", True, None)
    with pytest.raises(ValueError, match="config.warn_float64"):
        c.apply_flags("warn_float64=bogus")


def test_on_unused_input_argument_and_config(config_flag):
    x, y = T.dvectors("x", "y")
    with pytest.raises(ValueError, match="on_unused_input must be"):
        theano.function([x, y], x * 2, on_unused_input="bogus", mode="py")
    config_flag(on_unused_input="ignore")
    f = theano.function([x, y], x * 2, mode="py")              # the config default applies
    np.testing.assert_array_equal(f(np.ones(1), np.ones(1)), [2.0])


def test_dict_outputs_return_a_dict():
    x = T.dvector("x")
    f = theano.function([x], {"b": x.sum(), "a": x * 2})
    r = f(np.array([1.0, 2.0]))
    assert isinstance(r, dict) and list(r) == ["a", "b"] and f.output_keys == ["a", "b"]
    np.testing.assert_array_equal(r["a"], [2.0, 4.0])
    assert float(r["b"]) == 3.0
    assert pickle.loads(pickle.dumps(f))(np.ones(1)) == {"a": [2.0], "b": 1.0}
    with pytest.raises(TypeError, match="keys of a dict of outputs must be strings"):
        theano.function([x], {1: x})
