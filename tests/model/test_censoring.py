"""Censored and truncated likelihoods (bayesmm.model.censoring): each row's term against scipy, the truncated
distributions summing (integrating) to 1, and finite values and gradients at extreme censoring points."""
from __future__ import annotations

from bayesmm.model.backend import use_float64

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from bayesmm.censoring import ResponseBounds
from bayesmm.model.censoring import Bounds, Censored, LOWER_SUPPORT
from bayesmm.model.cdfs import DISCRETE
from bayesmm.model.likelihoods import likelihood

use_float64()

RESPONSE = {"gaussian": "real", "student_t": "real", "lognormal": "positive", "gamma": "positive",
            "weibull": "positive", "exponential": "positive", "poisson": "count", "negbinomial": "count",
            "nbinom1": "count"}


def _bounds(family, y, code=None, y2=None, lb=None, ub=None) -> Bounds:
    n = len(y)
    full = (lambda v: None if v is None else np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy())
    record = ResponseBounds(None if code is None else np.asarray(code), full(y2), full(lb), full(ub))
    exact, lower, upper, truncation = record.intervals(np.asarray(y, dtype=float), family in DISCRETE,
                                                       LOWER_SUPPORT[RESPONSE[family]])
    trunc = (None, None) if truncation is None else tuple(jnp.asarray(t) for t in truncation)
    return Bounds(jnp.asarray(exact), jnp.asarray(lower), jnp.asarray(upper), *trunc)


def _law(family, eta, aux, bounds):
    link = "identity" if family in ("gaussian", "student_t", "lognormal") else "log"
    return likelihood(family, link, jnp.asarray(eta), {k: jnp.asarray(v) for k, v in aux.items()}, bounds=bounds)


CASES = {  # family: (mu, aux, scipy distribution, y, y2 of the interval row)
    "gaussian": (1.5, {"sigma": 2.0}, stats.norm(1.5, 2.0), 2.2, 4.0),
    "student_t": (1.5, {"sigma": 2.0, "nu": 3.5}, stats.t(3.5, 1.5, 2.0), 2.2, 4.0),
    "lognormal": (0.3, {"sigma": 0.7}, stats.lognorm(0.7, scale=np.exp(0.3)), 1.1, 2.5),
    "gamma": (2.0, {"shape": 3.0}, stats.gamma(3.0, scale=2.0 / 3.0), 1.1, 2.5),
    "weibull": (2.0, {"shape": 1.7}, stats.weibull_min(1.7, scale=2.0 / special.gamma(1 + 1 / 1.7)), 1.1, 2.5),
    "exponential": (2.0, {}, stats.expon(scale=2.0), 1.1, 2.5),
    "poisson": (3.2, {}, stats.poisson(3.2), 2.0, 5.0),
    "negbinomial": (3.2, {"phi": 1.7}, stats.nbinom(1.7, 1.7 / 4.9), 2.0, 5.0),
    "nbinom1": (3.2, {"alpha": 0.8}, stats.nbinom(4.0, 4.0 / 7.2), 2.0, 5.0),  # shape mu / alpha = 4
}


@pytest.mark.parametrize("family", list(CASES))
def test_each_censoring_code_gives_brms_term(family):
    """none: log f(y); left: log P(Y <= y); right: log P(Y > y); interval: log P(y < Y <= y2)."""
    mu, aux, reference, y, y2 = CASES[family]
    eta = mu if family in ("gaussian", "student_t", "lognormal") else np.log(mu)
    values = np.full(4, y)
    law = _law(family, np.full(4, eta), aux, _bounds(family, values, [0, -1, 1, 2], y2=[0, 0, 0, y2]))
    got = np.asarray(law.log_prob(jnp.asarray(values)))
    density = reference.logpmf(y) if family in DISCRETE else reference.logpdf(y)
    expected = [density, reference.logcdf(y), reference.logsf(y), np.log(reference.cdf(y2) - reference.cdf(y))]
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_truncated_count_sums_to_one_and_matches_brms_normaliser():
    """trunc(lb = 2, ub = 9) on a poisson: the whole numbers 2..9, P(1 < Y <= 9) in the denominator."""
    ks = np.arange(2.0, 10.0)
    bounds = _bounds("poisson", ks, lb=2, ub=9)
    got = np.asarray(jax.jit(lambda eta: _law("poisson", eta, {}, bounds).log_prob(jnp.asarray(ks)))(
        np.full(ks.size, np.log(3.2))))
    expected = stats.poisson.logpmf(ks, 3.2) - np.log(stats.poisson.cdf(9, 3.2) - stats.poisson.cdf(1, 3.2))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert np.exp(got).sum() == pytest.approx(1.0, rel=1e-12)
    # lb = 0 is no truncation from below: only ub counts
    law = _law("negbinomial", np.log(3.2), {"phi": 2.0}, _bounds("negbinomial", np.array([4.0]), lb=0, ub=12))
    expected = stats.nbinom.logpmf(4, 2.0, 2.0 / 5.2) - stats.nbinom.logcdf(12, 2.0, 2.0 / 5.2)
    assert float(law.log_prob(jnp.asarray([4.0]))[0]) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("family", ["gaussian", "lognormal", "weibull"])
def test_truncated_density_integrates_to_one(family):
    mu, aux, reference, y, _ = CASES[family]
    eta = mu if family != "weibull" else np.log(mu)
    lb, ub = (0.5, 3.0)

    def density(v):
        law = _law(family, np.array([eta]), aux, _bounds(family, np.array([v]), lb=lb, ub=ub))
        return float(np.exp(law.log_prob(jnp.asarray([v]))[0]))

    assert integrate.quad(density, lb, ub, epsabs=1e-12)[0] == pytest.approx(1.0, rel=1e-8)


def test_censoring_inside_truncation_is_a_probability_of_the_truncated_law():
    """Left-censored at 2 with lb = 1: P(1 < Y <= 2) / P(1 < Y <= 6) (brms would keep P(Y <= 2) on top)."""
    law = _law("gaussian", np.zeros(2), {"sigma": 1.5},
               _bounds("gaussian", np.array([2.0, 3.0]), [-1, 1], lb=1.0, ub=6.0))
    norm = stats.norm(0.0, 1.5)
    total = norm.cdf(6.0) - norm.cdf(1.0)
    expected = [np.log((norm.cdf(2.0) - norm.cdf(1.0)) / total), np.log((norm.cdf(6.0) - norm.cdf(3.0)) / total)]
    np.testing.assert_allclose(np.asarray(law.log_prob(jnp.asarray([2.0, 3.0]))), expected, rtol=1e-10)


def test_extreme_censoring_points_are_exact_with_finite_gradients():
    """Censored 40 SDs out, an interval far in the upper tail, a truncation range far in a tail: exact logs
    (log_ndtr), and gradients in mu and sigma that are finite (no NaN from the unused branches)."""
    y = np.array([40.0, -40.0, 40.0, 0.3, 38.0])
    bounds = _bounds("gaussian", y, [1, -1, 2, 0, 0], y2=[0, 0, 41.0, 0, 0])
    expected = [stats.norm.logsf(40.0), stats.norm.logcdf(-40.0),
                stats.norm.logsf(40.0) + np.log(-np.expm1(stats.norm.logsf(41.0) - stats.norm.logsf(40.0))),
                stats.norm.logpdf(0.3), stats.norm.logpdf(38.0)]

    @jax.jit
    def total(mu, sigma):
        law = likelihood("gaussian", "identity", jnp.full(5, mu), {"sigma": sigma}, bounds=bounds)
        return law.log_prob(jnp.asarray(y))

    np.testing.assert_allclose(np.asarray(total(0.0, 1.0)), expected, rtol=1e-10)
    grads = jax.jit(jax.jacobian(total, argnums=(0, 1)))(0.0, 1.0)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
    # truncated to (35, inf): the row at 38 is a proper density of the far tail
    law = likelihood("gaussian", "identity", jnp.zeros(1), {"sigma": 1.0},
                     bounds=_bounds("gaussian", np.array([38.0]), lb=35.0))
    assert float(law.log_prob(jnp.asarray([38.0]))[0]) == pytest.approx(
        stats.norm.logpdf(38.0) - stats.norm.logsf(35.0), rel=1e-10)
    for family, mu, aux, value in (("poisson", 1.0, {}, 300.0), ("negbinomial", 2.0, {"phi": 3.0}, 900.0),
                                   ("gamma", 1.0, {"shape": 2.0}, 800.0), ("weibull", 1.0, {"shape": 2.0}, 200.0)):
        def right(eta, aux=aux, family=family, value=value):
            return _law(family, eta, aux, _bounds(family, np.array([value]), [1])).log_prob(jnp.asarray([value]))[0]

        value_and_grad = jax.jit(jax.value_and_grad(right))(np.log(mu))
        assert -1e5 < float(value_and_grad[0]) < -500 and np.isfinite(float(value_and_grad[1]))


def test_identity_link_outside_the_mean_range_is_still_rejected():
    bounds = _bounds("gamma", np.array([1.0, 1.0]), [1, 0])
    law = likelihood("gamma", "identity", jnp.asarray([-0.5, 2.0]), {"shape": jnp.asarray(3.0)}, bounds=bounds)
    got = np.asarray(law.log_prob(jnp.asarray([1.0, 1.0])))
    assert got[0] == -np.inf and got[1] == pytest.approx(stats.gamma(3.0, scale=2.0 / 3.0).logpdf(1.0))


def test_draws_and_means_are_the_uncensored_family():
    bounds = _bounds("poisson", np.array([2.0, 3.0]), [1, -1], lb=1, ub=4)
    law = likelihood("poisson", "log", jnp.log(jnp.asarray([3.0, 40.0])), {}, bounds=bounds)
    np.testing.assert_allclose(np.asarray(law.mean), [3.0, 40.0])
    draws = np.asarray(law.sample(jax.random.PRNGKey(0), (2000,)))
    assert draws[:, 1].mean() == pytest.approx(40.0, rel=0.02)  # not cut to the truncation range
    assert isinstance(law, Censored)



def test_fit_keeps_the_censored_terms_in_the_pointwise_log_likelihood():
    """A left-censored gaussian (a detection limit at 0.3): the replay's log_lik of each censored row is
    log Phi((0.3 - mu) / sigma) at every draw, of each observed row the density (LOO reads these)."""
    import warnings

    import pandas as pd

    import bayesmm as bmm

    rng = np.random.default_rng(3)
    x = rng.normal(size=80)
    latent = 1.0 + 0.8 * x + rng.normal(0.0, 1.0, 80)
    df = pd.DataFrame({"y": np.maximum(latent, 0.3), "x": x, "c": np.where(latent < 0.3, "left", "none")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit("y | cens(c) ~ x", df, chains=1, warmup=300, draws=100, seed=1)
    post = fit.idata.posterior
    b, sigma = post["b"].values.reshape(-1, 2), post["sigma"].values.ravel()  # b: Intercept, x
    mu = b[:, :1] + b[:, 1:] * x[None, :]
    expected = np.where(df["c"].to_numpy() == "left", stats.norm.logcdf((0.3 - mu) / sigma[:, None]),
                        stats.norm.logpdf(df["y"].to_numpy(), mu, sigma[:, None]))
    np.testing.assert_allclose(fit.idata.log_likelihood["y"].values.reshape(expected.shape), expected, rtol=1e-8)
    # predictions are of the uncensored response (brms's posterior_epred): the mean mu, below the limit too
    predicted = fit.predict(pd.DataFrame({"x": [-2.0, 0.0]}))["Estimate"].to_numpy()
    np.testing.assert_allclose(predicted, [np.mean(b[:, 0] - 2.0 * b[:, 1]), np.mean(b[:, 0])], rtol=1e-10)
    assert predicted[0] < 0.3
