"""Starting points: prior medians in closed form (no prior draws to compile), the jitter shrunk in the
sampler's program until the density and its gradient are finite, and a clear error when they never are."""
from bayesmm.model.backend import use_float64

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.distributions.transforms import biject_to

import bayesmm as bmm
from bayesmm.model import compile_model
from bayesmm.sampler.potential import _unconstrained, initial_values, prior_median, sites_of, usable_start
from bayesmm.model.program import prior_distribution
from bayesmm.priors import DISTRIBUTIONS, parse_prior

use_float64()  # as every fit does, before jax arrays are made here

SPECS = ["normal(3, 2)", "student_t(3, -1, 2)", "cauchy(0.5, 1)", "logistic(2, 0.3)", "laplace(-2, 1)",
         "uniform(-1, 5)", "half_normal(2.5)", "half_student_t(3, 2.5)", "half_cauchy(0.7)", "exponential(2)",
         "gamma(2, 0.1)", "inverse_gamma(0.5, 0.5)", "lognormal(1, 0.5)", "beta(2, 5)"]


def test_every_prior_but_lkj_and_flat_is_covered():
    assert {s.split("(")[0] for s in SPECS} == set(DISTRIBUTIONS) - {"lkj", "flat"}


@pytest.mark.parametrize("text", SPECS)
def test_prior_median_is_the_median_of_numpyro_draws(text):
    spec = parse_prior(text)
    d = prior_distribution(spec)
    draws = np.asarray(d.sample(jax.random.PRNGKey(0), (400_000,)))
    median = prior_median(spec)
    # the sample median's standard error is about 1/(2 f(m) sqrt(n)): within 0.5% of the spread
    assert abs(median - np.median(draws)) < 0.005 * (np.quantile(draws, 0.75) - np.quantile(draws, 0.25)), text
    expected = float(biject_to(d.support).inv(jnp.asarray(median)))
    assert _unconstrained(spec, median) == pytest.approx(expected, rel=1e-10, abs=1e-12), text


def test_flat_prior_starts_at_zero():
    assert prior_median(parse_prior("flat()")) == 0.0


def test_centre_is_the_prior_median_and_slopes_start_at_zero():
    sleep = bmm.datasets.load("sleepstudy")
    model = bmm.Model("Reaction ~ Days + (Days | Subject)", sleep,
                      priors=[bmm.prior("gamma(2, 0.1)", "sigma"), bmm.prior("normal(250, 40)", "Intercept")])
    structure, data = compile_model(model.design, model.family, model.prior_entries, False, None)
    centre, jitter = initial_values(structure, data, sites_of(structure, data), np.random.default_rng(0), 3)
    assert centre["sigma"] == pytest.approx(np.log(prior_median(parse_prior("gamma(2, 0.1)"))))
    assert centre["Intercept_c"] == pytest.approx(250.0)
    assert np.all(centre["b"] == 0) and np.all(centre["L_0"] == 0)
    assert set(jitter) == set(centre) and all(jitter[k].shape == (3,) + np.shape(centre[k]) for k in centre)
    assert all(np.abs(v).max() <= 0.5 for v in jitter.values())
    again = initial_values(structure, data, sites_of(structure, data), np.random.default_rng(0), 3)[1]
    assert all(np.array_equal(again[k], jitter[k]) for k in jitter)  # same seed, same starts


def test_usable_start_halves_the_jitter_until_finite_and_says_when_it_never_is():
    def value_and_grad(z):  # finite only within 0.1 of zero
        x = z["x"]
        inside = jnp.all(jnp.abs(x) < 0.1)
        return jnp.where(inside, jnp.sum(x ** 2), jnp.inf), {"x": 2 * x}

    start = jax.jit(lambda c, j: usable_start(value_and_grad, c, j))
    point, (value, grad), ok = start({"x": jnp.zeros(2)}, {"x": jnp.array([0.5, -0.3])})
    np.testing.assert_allclose(point["x"], [0.0625, -0.0375])  # jitter x 1/8: the first factor inside
    assert bool(ok) and float(value) == pytest.approx(0.0625 ** 2 + 0.0375 ** 2)
    np.testing.assert_allclose(grad["x"], 2 * point["x"])
    point, _, ok = start({"x": jnp.ones(2)}, {"x": jnp.array([0.5, -0.3])})
    assert not bool(ok)
    np.testing.assert_allclose(point["x"], [1.0, 1.0])  # the jitter dropped


def test_a_density_that_is_nowhere_finite_is_a_sampler_error():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"y": rng.poisson(3, 60), "g": np.repeat(list("abcdef"), 10), "big": 900.0})
    with pytest.raises(bmm.SamplerError, match="not finite at the initial values"):
        bmm.fit("y ~ 1 + offset(big) + (1 | g)", df, family="poisson", chains=2, draws=50, warmup=50)
