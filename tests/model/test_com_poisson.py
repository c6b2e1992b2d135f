"""The Conway-Maxwell-Poisson (bayesmm.model.com_poisson, brms's com_poisson): the normaliser against the full
series in numpy (windowed and asymptotic branches, and at the switch between them), the pmf summing to 1, means
and variances, exact draws, gradients, and recovery of under-dispersed counts with a random intercept."""
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
from bayesmm.model.com_poisson import WINDOW, ComPoisson, log_normaliser

use_float64()


def _log_z(mu, nu, terms=20000):
    j = np.arange(terms, dtype=float)
    return special.logsumexp(nu * (j * np.log(mu) - special.gammaln(j + 1)))


#: (mu, nu): Poisson-like, under- and over-dispersed, tiny and large means, both sides of the switch
POINTS = [(0.01, 2.0), (0.5, 0.3), (3.0, 2.5), (1.0, 1.0), (15.0, 0.3), (30.0, 0.5), (100.0, 2.0), (1500.0, 0.5),
          (260.0, 1.5), (4000.0, 3.0)]


@pytest.mark.parametrize("mu, nu", POINTS)
def test_normaliser_against_the_full_series(mu, nu):
    assert float(log_normaliser(np.log(mu), nu)) == pytest.approx(_log_z(mu, nu), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("nu", [0.5, 1.0, 2.0, 4.0])
def test_asymptotic_branch_at_the_switch(nu):
    """Just past the window's range (mu / nu = (WINDOW / 16)^2) the expansion is within 1e-6 of log Z."""
    mu = nu * (WINDOW / 16.0) ** 2 * 1.01
    assert float(log_normaliser(np.log(mu), nu)) == pytest.approx(_log_z(mu, nu), abs=1e-6)


@pytest.mark.parametrize("mu, nu", [(3.0, 2.5), (40.0, 0.7), (0.2, 1.5)])
def test_pmf_sums_to_one_with_its_mean_and_draws(mu, nu):
    law = ComPoisson(jnp.asarray(mu), jnp.asarray(nu))
    ks = np.arange(0.0, 600.0)
    pmf = np.exp(np.asarray(law.log_prob(jnp.asarray(ks))))
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert float(law.mean) == pytest.approx(float(np.sum(ks * pmf)), rel=1e-10)
    variance = float(np.sum((ks - float(law.mean)) ** 2 * pmf))
    assert (variance < float(law.mean)) == (nu > 1)  # under-dispersed above 1, over-dispersed below
    draws = np.asarray(law.sample(jax.random.PRNGKey(1), (20000,)))
    top = int(ks[np.cumsum(pmf) < 0.999][-1]) + 1 if np.any(np.cumsum(pmf) < 0.999) else 1
    observed = np.array([np.sum(draws == k) for k in range(top)] + [np.sum(draws >= top)])
    expected = np.append(pmf[:top], 1 - pmf[:top].sum()) * draws.size
    keep = expected > 5
    statistic = np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep])
    assert stats.chi2.sf(statistic, keep.sum() - 1) > 1e-3


def test_poisson_at_shape_one_and_finite_gradients():
    ks = jnp.arange(0.0, 30.0)
    np.testing.assert_allclose(np.asarray(ComPoisson(4.2, 1.0).log_prob(ks)), stats.poisson.logpmf(ks, 4.2),
                               rtol=1e-12)
    for mu, nu in ((2.5, 2.0), (3000.0, 0.4), (1e-3, 3.0)):
        grads = jax.grad(lambda m, n: ComPoisson(m, n).log_prob(3.0), argnums=(0, 1))(mu, nu)
        assert all(np.isfinite(float(g)) for g in grads)


@pytest.mark.slow  # a 2 x (500 + 500) fit of the series-summed likelihood
def test_recovers_under_dispersed_counts():
    """Counts with a variance about 0.4 of their mean given mu (nu = 2.5), a random intercept on log mu."""
    rng = np.random.default_rng(9)  # its group effects average -0.04 (seed 8: -0.23)
    g = np.repeat(np.arange(20), 15)
    x = rng.normal(size=g.size)
    mu = np.exp(1.2 + 0.4 * x + rng.normal(0.0, 0.3, 20)[g])
    ks = np.arange(0.0, 200.0)
    log_pmf = 2.5 * (ks[None, :] * np.log(mu)[:, None] - special.gammaln(ks + 1))
    cdf = np.cumsum(np.exp(log_pmf - special.logsumexp(log_pmf, axis=1, keepdims=True)), axis=1)
    y = (rng.uniform(size=g.size)[:, None] > cdf).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit("y ~ x + (1 | g)", pd.DataFrame({"y": y, "x": x, "g": g}), family="com_poisson", chains=2,
                      warmup=500, draws=500, seed=1)
    tidy = fit.tidy(prob=0.95).set_index("term")
    truth = {"Intercept": 1.2, "x": 0.4, "sd__Intercept": 0.3, "shape": 2.5}
    missed = {t: (v, tidy.loc[t, "conf_low"], tidy.loc[t, "conf_high"]) for t, v in truth.items()
              if not tidy.loc[t, "conf_low"] <= v <= tidy.loc[t, "conf_high"]}
    assert not missed, tidy.to_string()
    assert tidy["rhat"].max() < 1.05
