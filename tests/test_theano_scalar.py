"""``theano.scalar`` (``symgraph/scalar.py``): the dtype rule and the scalar ops under
Theano's names, and the Deep Learning Tutorials' Hamiltonian Monte Carlo sampler, which
reaches for ``theano.scalar.upcast`` and differentiates inside a scan's step."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T


@pytest.mark.parametrize("dtypes,expected", [
    (("int8", "float32"), "float32"), (("int64", "float32"), "float64"),
    (("float32", "float32"), "float32"), (("bool", "bool"), "bool"),
    (("int32", "uint8", "int16"), "int32"), (("float32",), "float32")])
def test_upcast_follows_numpy_promotion(dtypes, expected):
    assert theano.scalar.upcast(*dtypes) == expected
    assert theano.scalar.upcast(*dtypes) == str(np.result_type(*dtypes))


def test_scalar_ops_build_elementwise_ops():
    x = T.dvector("x")
    f = theano.function([x], [T.Elemwise(theano.scalar.add)(x, x),
                              T.Elemwise(theano.scalar.sigmoid)(x)])
    v = np.array([-1.0, 0.0, 2.0])
    twice, sig = f(v)
    np.testing.assert_array_equal(twice, 2 * v)
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-v)), rtol=1e-15)


def test_theano_scalar_through_the_alias():
    code = textwrap.dedent("""
        import symgraph.compat.theano_alias  # noqa: F401
        import theano.scalar, theano.scalar.basic
        from theano.scalar import upcast
        assert upcast("int8", "float32") == "float32"
        assert theano.scalar.basic.add is theano.scalar.add
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.split() == ["ok"], r.stderr[-2000:]


def _hmc_sampler(position, energy_fn, n_steps=20, seed=12345):
    """The tutorial's ``HMC_sampler.new_from_shared_positions`` (hmc/hmc.py), condensed:
    leapfrog steps in a scan whose step takes ``T.grad`` of the energy, a Metropolis
    accept, and the adaptive step size whose mean's dtype comes from
    ``theano.scalar.upcast``."""
    from symgraph.tensor.shared_randomstreams import RandomStreams

    def shared_x(v, name):
        return theano.shared(np.asarray(v, dtype=theano.config.floatX), name=name)

    stepsize = shared_x(1e-3, "hmc_stepsize")
    avg_rate = shared_x(0.9, "avg_acceptance_rate")
    s_rng = RandomStreams(seed)

    def hamiltonian(pos, vel):
        return energy_fn(pos) + 0.5 * (vel ** 2).sum(axis=1)

    def leapfrog(pos, vel, step):
        dE_dpos = T.grad(energy_fn(pos).sum(), pos)
        new_vel = vel - step * dE_dpos
        return [pos + step * new_vel, new_vel], {}

    vel0 = s_rng.normal(size=position.shape)
    vel_half = vel0 - 0.5 * stepsize * T.grad(energy_fn(position).sum(), position)
    pos_full = position + stepsize * vel_half
    (all_pos, all_vel), scan_updates = theano.scan(
        leapfrog, outputs_info=[dict(initial=pos_full), dict(initial=vel_half)],
        non_sequences=[stepsize], n_steps=n_steps - 1)
    assert not scan_updates
    final_pos = all_pos[-1]
    final_vel = all_vel[-1] - 0.5 * stepsize * T.grad(energy_fn(final_pos).sum(), final_pos)
    ediff = hamiltonian(position, vel0) - hamiltonian(final_pos, final_vel)
    accept = (T.exp(ediff) - s_rng.uniform(size=position.shape[:1])) >= 0
    new_positions = T.switch(accept.dimshuffle(0, "x"), final_pos, position)
    new_stepsize = T.clip(T.switch(avg_rate > 0.9, stepsize * 1.02, stepsize * 0.98),
                          0.001, 0.25)
    mean_dtype = theano.scalar.upcast(accept.dtype, avg_rate.dtype)
    new_rate = T.add(0.9 * avg_rate, (1.0 - 0.9) * accept.mean(dtype=mean_dtype))
    simulate = theano.function([], [], updates=[(position, new_positions),
                                                (stepsize, new_stepsize),
                                                (avg_rate, new_rate)])
    return simulate, stepsize, avg_rate


def test_the_tutorials_hmc_sampler_reaches_its_targets():
    """The tutorial's own test (``test_hmc``) on a 5-d Gaussian: after burn-in the
    acceptance rate is within 0.1 of its 0.9 target and the step size within its
    bounds; here also the sample mean near the Gaussian's (every draw on the compiled
    backend, the sampler's randomness from its seeded streams)."""
    rng = np.random.RandomState(123)
    dim = 5
    mu = rng.rand(dim) * 10
    cov = rng.rand(dim, dim)
    cov = (cov + cov.T) / 2.0
    cov[np.arange(dim), np.arange(dim)] = 1.0
    cov_inv = np.linalg.inv(cov)

    def gaussian_energy(x):
        return 0.5 * (T.dot((x - mu), cov_inv) * (x - mu)).sum(axis=1)

    position = theano.shared(rng.randn(3, dim).astype(theano.config.floatX))
    simulate, stepsize, avg_rate = _hmc_sampler(position, gaussian_energy)
    for _ in range(600):
        simulate()
    draws = []
    for _ in range(600):
        simulate()
        draws.append(position.get_value())
    assert abs(avg_rate.get_value() - 0.9) < 0.1
    assert 0.001 <= stepsize.get_value() <= 0.25
    np.testing.assert_allclose(np.concatenate(draws).mean(axis=0), mu, atol=0.5)
