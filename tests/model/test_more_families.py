"""The families of bayesmm.model.more_families: log densities against scipy, means and draws (fast), and
recovery of simulated truths by short NUTS runs (about 4 s each).

Weibull and exponential follow brms: mean ``mu`` (log link), Weibull scale ``mu / Gamma(1 + 1 / shape)``.
"""
from __future__ import annotations

from bayesmm.model.backend import use_float64

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import bayesmm as bmm
from bayesmm.model.likelihoods import likelihood
from bayesmm.model.simulate import response_quantity

use_float64()


def _weibull_scipy(mu, shape):
    return stats.weibull_min(shape, scale=mu / special.gamma(1 + 1 / shape))


@pytest.mark.parametrize("link", ["log", "identity", "inverse"])
@pytest.mark.parametrize("shape", [0.4, 1.0, 3.7, 25.0])
def test_weibull_log_density_against_scipy(link, shape):
    y = np.array([1e-6, 0.03, 0.9, 2.5, 14.0, 200.0])
    mu = np.array([0.5, 1.0, 2.0, 3.0, 7.5, 40.0])
    eta = {"log": np.log(mu), "identity": mu, "inverse": 1 / mu}[link]
    law = likelihood("weibull", link, jnp.asarray(eta), {"shape": jnp.asarray(shape)})
    np.testing.assert_allclose(np.asarray(law.log_prob(jnp.asarray(y))), _weibull_scipy(mu, shape).logpdf(y),
                               rtol=1e-10)


@pytest.mark.parametrize("link", ["log", "identity", "inverse"])
def test_exponential_log_density_against_scipy(link):
    y = np.array([1e-8, 0.03, 0.9, 2.5, 14.0, 900.0])
    mu = np.array([0.5, 1.0, 2.0, 3.0, 7.5, 40.0])
    eta = {"log": np.log(mu), "identity": mu, "inverse": 1 / mu}[link]
    law = likelihood("exponential", link, jnp.asarray(eta), {})
    np.testing.assert_allclose(np.asarray(law.log_prob(jnp.asarray(y))), stats.expon(scale=mu).logpdf(y),
                               rtol=1e-12)


@pytest.mark.parametrize("family", ["weibull", "exponential"])
def test_outside_the_mean_range_is_rejected_with_finite_gradients(family):
    eta = jnp.asarray([-0.5, 0.0, 0.8])
    aux = {"shape": jnp.asarray(2.0)} if family == "weibull" else {}
    total = lambda e: likelihood(family, "identity", e, aux).log_prob(jnp.asarray([1.0, 1.0, 1.5]))  # noqa: E731
    got = np.asarray(total(eta))
    assert np.all(got[:2] == -np.inf) and np.isfinite(got[2])
    assert np.all(np.isfinite(np.asarray(jax.grad(lambda e: total(e)[2])(eta))))


def test_means_and_draws_follow_brms_parameterisation():
    """response_quantity: the mean is mu for any shape; draws match scipy's Weibull (Kolmogorov-Smirnov)."""
    mu, shape = np.array([0.7, 3.0, 12.0]), 1.8
    eta = np.log(mu)[None, :]
    mean = response_quantity("weibull", "log", eta, {"shape": np.array([shape])})
    np.testing.assert_allclose(mean[0], mu, rtol=1e-12)
    np.testing.assert_allclose(response_quantity("exponential", "log", eta, {})[0], mu, rtol=1e-12)
    eta_many = np.full((4000, 3), np.log(mu))
    draws = response_quantity("weibull", "log", eta_many, {"shape": np.full(4000, shape)}, kind="response", seed=3)
    for j in range(3):
        assert stats.kstest(draws[:, j], _weibull_scipy(mu[j], shape).cdf).pvalue > 1e-3
    draws = response_quantity("exponential", "log", eta_many, {}, kind="response", seed=4)
    for j in range(3):
        assert stats.kstest(draws[:, j], stats.expon(scale=mu[j]).cdf).pvalue > 1e-3


def test_family_records_and_default_priors():
    model = bmm.Model("y ~ x", pd.DataFrame({"y": [1.0, 2.0, 0.5, 3.0], "x": [0.0, 1.0, 2.0, 3.0]}),
                      family="weibull")
    priors = model.priors.set_index("class")
    assert priors.loc["shape", "prior"] == "lognormal(0, 1)"
    assert bmm.Model("y ~ x", pd.DataFrame({"y": [1.0, 2.0, 0.5, 3.0], "x": [0.0, 1.0, 2.0, 3.0]}),
                     family="exponential").family.link == "log"
    with pytest.raises(bmm.FamilyError, match="values above 0"):
        bmm.Model("y ~ x", pd.DataFrame({"y": [1.0, 0.0, 0.5, 3.0], "x": [0.0, 1.0, 2.0, 3.0]}), family="weibull")


def simulate_survival(family: str, seed: int, n_groups: int = 20, per_group: int = 15):
    """Times with a random intercept on the log mean: ``log mu = 1 + 0.5 x + u_g``, ``u_g ~ N(0, 0.4)``."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=g.size)
    mu = np.exp(1.0 + 0.5 * x + rng.normal(0.0, 0.4, n_groups)[g])
    y = _weibull_scipy(mu, 1.6).rvs(random_state=rng) if family == "weibull" else rng.exponential(mu)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in g]})


@pytest.mark.parametrize("family", ["weibull", "exponential"])
def test_recovers_a_simulated_truth(family):
    df = simulate_survival(family, seed=6)  # its group effects average +0.03 (seed 5: -0.14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit("y ~ x + (1 | g)", df, family=family, chains=2, warmup=500, draws=500, seed=1)
    tidy = fit.tidy(prob=0.95).set_index("term")
    truth = {"Intercept": 1.0, "x": 0.5, "sd__Intercept": 0.4} | ({"shape": 1.6} if family == "weibull" else {})
    for term, value in truth.items():
        assert tidy.loc[term, "conf_low"] <= value <= tidy.loc[term, "conf_high"], tidy.to_string()
    assert tidy["rhat"].max() < 1.05
