"""Point-mass families (bayesmm.model.inflations, registered in bayesmm.model.more_families): log densities
against scipy, the mass summing (integrating) to 1, means against numerical ones, exact draws, finite values and
gradients at the ends, and recovery of simulated truths by short NUTS runs.

* zero_inflated_binomial: ``zi 0 + (1 - zi) Binomial(n, expit(eta))``;
* hurdle_gamma, hurdle_lognormal: ``P(0) = hu``, the positive family above 0 (brms's parameterisations);
* zero_one_inflated_beta (brms): ``P(1) = zoi coi``, ``P(0) = zoi (1 - coi)``, ``(1 - zoi) Beta`` in between;
* ordbeta (Kubinec 2023): cut points ``k1 < k2``, ``P(0) = 1 - expit(eta - k1)``, ``P(1) = expit(eta - k2)``.
"""
from __future__ import annotations

from bayesmm.model.backend import use_float64

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

import bayesmm as bmm
from bayesmm.model.likelihoods import likelihood
from bayesmm.model.simulate import response_quantity

use_float64()


def _law(family, eta, aux, trials=None):
    link = {"hurdle_gamma": "log", "hurdle_lognormal": "identity"}.get(family, "logit")
    return likelihood(family, link, jnp.asarray(eta), {k: jnp.asarray(v) for k, v in aux.items()},
                      None if trials is None else jnp.asarray(trials))


def test_zero_inflated_binomial_pmf():
    n, eta, zi = 12.0, 0.4, 0.25
    ks = np.arange(0.0, n + 1)
    got = np.exp(np.asarray(_law("zero_inflated_binomial", np.full(ks.size, eta), {"zi": zi},
                                 np.full(ks.size, n)).log_prob(jnp.asarray(ks))))
    expected = (1 - zi) * stats.binom.pmf(ks, n, special.expit(eta)) + zi * (ks == 0)
    np.testing.assert_allclose(got, expected, rtol=1e-11)
    # the zero keeps its log-sum-exp where the binomial puts almost no mass at 0
    far = _law("zero_inflated_binomial", 30.0, {"zi": 1e-20}, 50.0)
    assert float(far.log_prob(0.0)) == pytest.approx(np.logaddexp(np.log(1e-20), 50 * -30.0), rel=1e-12)


@pytest.mark.parametrize("family, aux, base", [
    ("hurdle_gamma", {"shape": 2.5, "hu": 0.3}, lambda mu: stats.gamma(2.5, scale=mu / 2.5)),
    ("hurdle_lognormal", {"sigma": 0.6, "hu": 0.3}, lambda mu: stats.lognorm(0.6, scale=np.exp(mu))),
])
def test_continuous_hurdles(family, aux, base):
    eta = 0.7
    mu = np.exp(eta) if family == "hurdle_gamma" else eta
    law = _law(family, eta, aux)
    y = np.array([0.0, 1e-8, 0.4, 2.0, 30.0])
    expected = np.where(y == 0, np.log(0.3), np.log(0.7) + base(mu).logpdf(np.where(y > 0, y, 1.0)))
    np.testing.assert_allclose(np.asarray(law.log_prob(jnp.asarray(y))), expected, rtol=1e-11)
    density = integrate.quad(lambda v: float(np.exp(law.log_prob(v))), 0, np.inf)[0]
    assert 0.3 + density == pytest.approx(1.0, abs=1e-7)
    assert float(law.mean) == pytest.approx(0.7 * base(mu).mean(), rel=1e-12)
    grad = jax.grad(lambda e: _law(family, e, aux).log_prob(jnp.asarray([0.0, 2.0])).sum())(eta)
    assert np.isfinite(float(grad))


def _zoib_density(y, eta, phi, zoi, coi):
    mu = special.expit(eta)
    return np.where(y == 1, zoi * coi, np.where(y == 0, zoi * (1 - coi),
                                                (1 - zoi) * stats.beta.pdf(np.clip(y, 1e-12, 1 - 1e-12),
                                                                          mu * phi, (1 - mu) * phi)))


def _ordbeta_density(y, eta, phi, k1, k2):
    mu = special.expit(eta)
    zero, one = 1 - special.expit(eta - k1), special.expit(eta - k2)
    middle = special.expit(eta - k1) - special.expit(eta - k2)
    return np.where(y == 0, zero, np.where(y == 1, one, middle * stats.beta.pdf(np.clip(y, 1e-12, 1 - 1e-12),
                                                                              mu * phi, (1 - mu) * phi)))


@pytest.mark.parametrize("family, aux, reference", [
    ("zero_one_inflated_beta", {"phi": 6.0, "zoi": 0.2, "coi": 0.7},
     lambda y, eta: _zoib_density(y, eta, 6.0, 0.2, 0.7)),
    ("ordbeta", {"phi": 6.0, "cutzero": -2.0, "cutgap": 3.5},
     lambda y, eta: _ordbeta_density(y, eta, 6.0, -2.0, 1.5)),
])
def test_unit_interval_families_with_exact_zeros_and_ones(family, aux, reference):
    eta = 0.3
    law = _law(family, eta, aux)
    y = np.array([0.0, 1e-9, 0.2, 0.5, 0.93, 1.0])
    np.testing.assert_allclose(np.asarray(law.log_prob(jnp.asarray(y))), np.log(reference(y, eta)), rtol=1e-10)
    ends = float(np.exp(law.log_prob(0.0)) + np.exp(law.log_prob(1.0)))
    inside = integrate.quad(lambda v: float(np.exp(law.log_prob(v))), 0, 1, limit=200)[0]
    assert ends + inside == pytest.approx(1.0, abs=1e-7)
    numerical_mean = float(np.exp(law.log_prob(1.0))) + integrate.quad(
        lambda v: v * float(np.exp(law.log_prob(v))), 0, 1, limit=200)[0]
    assert float(law.mean) == pytest.approx(numerical_mean, rel=1e-7)
    draws = np.asarray(law.sample(jax.random.PRNGKey(0), (40000,)))
    for point in (0.0, 1.0):
        share = np.mean(draws == point)
        p = float(np.exp(law.log_prob(point)))
        assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / draws.size)
    assert draws.mean() == pytest.approx(float(law.mean), abs=4 * draws.std() / np.sqrt(draws.size))


def test_ordbeta_stays_finite_far_from_the_cut_points():
    def total(eta):
        law = _law("ordbeta", eta, {"phi": 5.0, "cutzero": -1.0, "cutgap": 1e-6})
        return law.log_prob(jnp.asarray([0.0, 0.4, 1.0])).sum()

    for eta in (-40.0, 0.0, 40.0):
        assert np.isfinite(float(total(eta))) and np.isfinite(float(jax.grad(total)(eta)))


def test_response_quantity_means_and_draws():
    eta = np.full((3000, 2), [0.2, -0.4])
    mean = response_quantity("zero_inflated_binomial", "logit", eta[:1], {"zi": np.array([0.3])}, np.array([10, 4]))
    np.testing.assert_allclose(mean[0], 0.7 * np.array([10, 4]) * special.expit([0.2, -0.4]), rtol=1e-12)
    draws = response_quantity("zero_inflated_binomial", "logit", eta, {"zi": np.full(3000, 0.3)},
                              np.array([10, 4]), kind="response", seed=2)
    assert np.all(draws <= [10, 4]) and abs(draws[:, 0].mean() - mean[0, 0]) < 0.15


# ------------------------------------------------------------------------------------------ recovery
def _groups(rng, n_groups=20, per_group=15, sd=0.4):
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=g.size)
    return g, x, 0.3 + 0.6 * x + rng.normal(0.0, sd, n_groups)[g]


def _simulate(family, seed):
    rng = np.random.default_rng(seed)
    g, x, eta = _groups(rng)
    if family == "zero_inflated_binomial":
        n = rng.integers(5, 15, g.size)
        y = rng.binomial(n, special.expit(eta)) * (rng.uniform(size=g.size) > 0.25)
        return pd.DataFrame({"y": y, "n": n, "x": x, "g": g}), {"zi": 0.25}
    if family == "hurdle_gamma":
        y = np.where(rng.uniform(size=g.size) < 0.3, 0.0, rng.gamma(3.0, np.exp(eta) / 3.0))
        return pd.DataFrame({"y": y, "x": x, "g": g}), {"shape": 3.0, "hu": 0.3}
    if family == "hurdle_lognormal":
        y = np.where(rng.uniform(size=g.size) < 0.3, 0.0, np.exp(rng.normal(eta, 0.6)))
        return pd.DataFrame({"y": y, "x": x, "g": g}), {"sigma": 0.6, "hu": 0.3}
    mu = special.expit(eta)
    inside = rng.beta(mu * 8.0, (1 - mu) * 8.0)
    if family == "zero_one_inflated_beta":
        u = rng.uniform(size=g.size)
        y = np.where(u < 0.15, (rng.uniform(size=g.size) < 0.6).astype(float), inside)
        return pd.DataFrame({"y": y, "x": x, "g": g}), {"phi": 8.0, "zoi": 0.15, "coi": 0.6}
    low, high = -2.0, 2.5
    u = rng.uniform(size=g.size)
    zero, one = 1 - special.expit(eta - low), special.expit(eta - high)
    y = np.where(u < zero, 0.0, np.where(u > 1 - one, 1.0, inside))
    return pd.DataFrame({"y": y, "x": x, "g": g}), {"phi": 8.0, "cutzero": low, "cutgap": high - low}


@pytest.mark.parametrize("family", ["zero_inflated_binomial", "hurdle_gamma", "hurdle_lognormal",
                                    "zero_one_inflated_beta", "ordbeta"])
def test_recovers_a_simulated_truth(family):
    df, aux = _simulate(family, seed=5)
    formula = "p(y, n) ~ x + (1 | g)" if family == "zero_inflated_binomial" else "y ~ x + (1 | g)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit(formula, df, family=family, chains=2, warmup=500, draws=500, seed=1)
    tidy = fit.tidy(prob=0.95).set_index("term")
    truth = {"Intercept": 0.3, "x": 0.6, "sd__Intercept": 0.4, **aux}
    missed = {t: (v, tidy.loc[t, "conf_low"], tidy.loc[t, "conf_high"]) for t, v in truth.items()
              if not tidy.loc[t, "conf_low"] <= v <= tidy.loc[t, "conf_high"]}
    assert not missed, tidy.to_string()
    assert tidy["rhat"].max() < 1.05
